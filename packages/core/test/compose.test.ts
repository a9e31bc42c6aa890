import { compose, type MessageContext, type Middleware } from "@natsflow/core";
import { describe, expect, it } from "vitest";

import { stage } from "../src/middleware/compose.js";
import { RESOLVED } from "../src/resolved.js";

const ctx = {} as MessageContext;

describe("compose", () => {
  it("runs middleware as an onion around the terminal handler", async () => {
    const trail: string[] = [];
    const mw = (name: string): Middleware => async (_c, next) => {
      trail.push(`${name}>`);
      await next();
      trail.push(`<${name}`);
    };
    await compose([mw("a"), mw("b")], async () => void trail.push("handler"))(ctx);
    expect(trail).toEqual(["a>", "b>", "handler", "<b", "<a"]);
  });

  it("lets a middleware short-circuit", async () => {
    let reached = false;
    await compose([async () => undefined], async () => void (reached = true))(ctx);
    expect(reached).toBe(false);
  });

  it("rejects when next() is called twice", async () => {
    const twice: Middleware = async (_c, next) => {
      await next();
      await next();
    };
    await expect(compose([twice], async () => undefined)(ctx)).rejects.toThrow(/more than once/);
  });

  it("turns a synchronous throw into a rejection", async () => {
    const boom = (() => {
      throw new Error("sync");
    }) as unknown as Middleware;
    await expect(compose([boom], async () => undefined)(ctx)).rejects.toThrow("sync");
  });

  it("runs stages (work without next) in their place among middleware, `after` only on success", async () => {
    const trail: string[] = [];
    const mw = (name: string): Middleware => async (_c, next) => {
      trail.push(`${name}>`);
      await next();
      trail.push(`<${name}`);
    };
    const s = (name: string) => stage({ before: () => void trail.push(`${name}.before`), after: () => void trail.push(`${name}.after`) });
    await compose([s("outer"), mw("a"), s("inner"), mw("b")], async () => void trail.push("handler"))(ctx);
    expect(trail).toEqual(["outer.before", "a>", "inner.before", "b>", "handler", "<b", "inner.after", "<a", "outer.after"]);

    trail.length = 0;
    await expect(compose([s("outer"), s("inner")], () => Promise.reject(new Error("handler failed")))(ctx)).rejects.toThrow("handler failed");
    expect(trail).toEqual(["outer.before", "inner.before"]);
  });

  it("turns a stage's throw into a rejection, and completes a synchronous chain without a promise of its own", async () => {
    const refuse = stage({
      before: () => {
        throw new Error("refused");
      },
    });
    let reached = false;
    await expect(compose([refuse], async () => void (reached = true))(ctx)).rejects.toThrow("refused");
    expect(reached).toBe(false);
    const sync = compose([stage({ before: () => undefined, after: () => undefined })], () => RESOLVED);
    expect(sync(ctx)).toBe(RESOLVED);
  });

  it("a stage called as a middleware does what compose does with it", async () => {
    const trail: string[] = [];
    const s = stage({ before: () => void trail.push("before"), after: () => void trail.push("after") });
    await s(ctx, async () => void trail.push("next"));
    expect(trail).toEqual(["before", "next", "after"]);
  });
});
