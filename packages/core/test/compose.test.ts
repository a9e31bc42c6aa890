import { compose, type MessageContext, type Middleware } from "@natsflow/core";
import { describe, expect, it } from "vitest";

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
});
