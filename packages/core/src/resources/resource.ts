import { SetupError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import type { Transport } from "../transport/transport.js";

/**
 * Something on the server that handlers or injected handles need — a stream, a KV bucket, an
 * object store. Whoever uses it declares it; the app sets every one up at start, before any
 * handler's source starts, without knowing what it is.
 */
export interface Resource {
  /** What it is, for messages ("stream", "kv bucket", "object store"); with `name`, its identity. */
  readonly kind: string;
  readonly name: string;
  /** Who declared it, for messages. */
  readonly user: string;
  /** Its checked declaration: two declarations of one resource must agree (compared as JSON). */
  readonly declared: unknown;
  /**
   * Creates or verifies it on the server; drift fails with a `SetupError` naming the setting. One
   * declared while the app runs (a handle first injected by a message) is set up then, unawaited:
   * it keeps a failure for whoever uses it.
   */
  setup(transport: Transport, logger: Logger): Promise<void>;
  /** At stop (or a failed start): what it opened is let go. */
  stop?(): void;
}

/** One app's resources, one per kind and name: declared at create, set up at start, let go at stop. */
export class ResourceRegistry {
  private readonly resources = new Map<string, Resource>();
  private running: { transport: Transport; logger: Logger } | undefined;

  /**
   * The app's instance of `resource`: the first one declared with its kind and name (a class per
   * kind, so it is of the caller's class). A different declaration of the same one is refused.
   */
  use<R extends Resource>(resource: R): R {
    const key = `${resource.kind}\u0000${resource.name}`;
    const seen = this.resources.get(key);
    if (!seen) {
      this.resources.set(key, resource);
      const running = this.running;
      if (running) {
        resource.setup(running.transport, running.logger).catch((err: unknown) => running.logger.error({ err, [resource.kind]: resource.name }, `could not set up ${resource.kind} ${resource.name}`));
      }
      return resource;
    }
    if (JSON.stringify(seen.declared) !== JSON.stringify(resource.declared)) {
      throw new SetupError(
        `${resource.user} ${resource.kind}`,
        `declares ${resource.kind} ${resource.name} differently from ${seen.user}.`,
        `define the ${resource.kind} once and share the declaration.`,
      );
    }
    return seen as R;
  }

  /** Sets up every resource, in the order they were declared. */
  async start(transport: Transport, logger: Logger): Promise<void> {
    this.running = { transport, logger };
    for (const resource of [...this.resources.values()]) await resource.setup(transport, logger);
  }

  stop(): void {
    this.running = undefined;
    for (const resource of this.resources.values()) resource.stop?.();
  }
}
