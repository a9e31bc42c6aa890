import type { DependencyContainer } from "tsyringe";

import type { HandlerInfo, MessageContext } from "../dispatch/context.js";
import { describeToken, type Constructor } from "../di/providers.js";
import { SetupError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import { compose } from "../middleware/compose.js";
import type { Middleware, MiddlewareClass, MiddlewareSpec } from "../middleware/middleware.js";
import { isValidSubjectFilter } from "../subjects.js";
import { getControllerMetadata, getHandlers, type HandlerMetadata } from "./handler-metadata.js";

export const DEFAULT_CONCURRENCY = 64;

/** A handler made ready to serve: its subject, its limits, and its composed chain. */
export interface HandlerBinding {
  readonly info: HandlerInfo;
  readonly concurrency: number;
  readonly logger: Logger;
  readonly run: (ctx: MessageContext) => Promise<void>;
}

function isMiddlewareClass(spec: MiddlewareSpec): spec is MiddlewareClass {
  return typeof spec === "function" && typeof (spec.prototype as { use?: unknown } | undefined)?.use === "function";
}

function resolveMiddleware(container: DependencyContainer, spec: MiddlewareSpec, where: string): Middleware {
  if (isMiddlewareClass(spec)) {
    const instance = resolveOrExplain(container, spec, where);
    return (ctx, next) => instance.use(ctx, next);
  }
  if (typeof spec === "function") return spec as Middleware;
  throw new SetupError(where, `is ${typeof spec}, not a middleware function or class.`);
}

function resolveOrExplain<T>(container: DependencyContainer, token: Constructor<T>, where: string): T {
  try {
    return container.resolve(token);
  } catch (e) {
    throw new SetupError(
      where,
      `cannot create ${describeToken(token)}: ${(e as Error).message}`,
      "register every constructor dependency in `providers`, import classes used as constructor types " +
        "as values (not `import type`), and keep `emitDecoratorMetadata` on.",
      { cause: e },
    );
  }
}

function joinSubject(prefix: string | undefined, subject: string): string {
  return prefix ? `${prefix}.${subject}` : subject;
}

function bindHandler(
  container: DependencyContainer,
  controller: Constructor,
  instance: Record<string | symbol, unknown>,
  meta: HandlerMetadata,
  outer: readonly Middleware[],
  logger: Logger,
): HandlerBinding {
  const controllerMeta = getControllerMetadata(controller);
  const name = `${controller.name}.${String(meta.method)}`;
  const subject = joinSubject(controllerMeta?.prefix, meta.subject);
  if (!isValidSubjectFilter(subject)) {
    throw new SetupError(`${name} subject`, `"${subject}" is not a valid NATS subject.`);
  }
  const concurrency = meta.options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new SetupError(`${name} concurrency`, `must be a positive integer, got ${String(concurrency)}.`);
  }
  const method = instance[meta.method];
  if (typeof method !== "function") {
    throw new SetupError(name, `is not a method of ${controller.name}.`);
  }
  meta.prepare?.(container);
  const chain = [
    ...outer,
    ...(controllerMeta?.middleware ?? []).map((m, i) => resolveMiddleware(container, m, `${controller.name} middleware[${i}]`)),
    ...meta.middleware.map((m, i) => resolveMiddleware(container, m, `${name} middleware[${i}]`)),
  ];
  const args = meta.args ?? ((ctx: MessageContext) => [ctx.payload]);
  const invoke = async (ctx: MessageContext): Promise<void> => {
    ctx.result = await (method as (...a: unknown[]) => unknown).apply(instance, args(ctx));
  };
  const info: HandlerInfo = { name, subject, queue: meta.options.queue };
  return { info, concurrency, logger: logger.child({ handler: name }), run: compose(chain, invoke) };
}

/**
 * Bootstrap: create each controller through the container (so its constructor dependencies are
 * injected) and turn the metadata its decorators stored into ready-to-run handler bindings.
 */
export function exploreControllers(
  container: DependencyContainer,
  controllers: readonly Constructor[],
  appMiddleware: readonly MiddlewareSpec[],
  logger: Logger,
): HandlerBinding[] {
  const outer = appMiddleware.map((m, i) => resolveMiddleware(container, m, `middleware[${i}]`));
  const bindings: HandlerBinding[] = [];
  controllers.forEach((controller, i) => {
    const where = `controllers[${i}] (${describeToken(controller)})`;
    const handlers = typeof controller === "function" ? getHandlers(controller) : [];
    if (handlers.length === 0) {
      throw new SetupError(where, "has no handlers.", "decorate the class with @AuthCallout() or give it @Subscribe() methods.");
    }
    const instance = resolveOrExplain(container, controller, where) as Record<string | symbol, unknown>;
    for (const meta of handlers) bindings.push(bindHandler(container, controller, instance, meta, outer, logger));
  });
  const seen = new Map<string, string>();
  for (const b of bindings) {
    const key = `${b.info.subject}\u0000${b.info.queue ?? ""}`;
    const other = seen.get(key);
    if (other) {
      throw new SetupError(
        b.info.name,
        `listens on "${b.info.subject}"${b.info.queue ? ` in queue "${b.info.queue}"` : ""} like ${other}; each message would run twice.`,
        "give one of them another subject or queue group.",
      );
    }
    seen.set(key, b.info.name);
  }
  return bindings;
}
