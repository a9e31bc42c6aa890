// The orders example described: `npm run asyncapi` prints its AsyncAPI document, which the AsyncAPI
// parser accepts without errors; `natsflow docs serve` shows it as a page a browser renders.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { Parser } from "@asyncapi/parser";
import { spawnTracked } from "@natsflow/testing";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";

// The installed CLI: the workspace's here, node_modules' in an app made with natsflow new.
const CLI = join(dirname(createRequire(import.meta.url).resolve("natsflow/package.json")), "dist/main.js");
const EXAMPLE = fileURLToPath(new URL("..", import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// Error is severity 0 in the parser's diagnostics (warnings 1, information 2, hints 3).
const ERROR = 0;

describe("the orders example's AsyncAPI document", () => {
  it("npm run asyncapi prints a document the AsyncAPI parser accepts, with orders.{id}.get, NewOrder's fields and the declared publisher", async () => {
    const npm = spawnTracked("npm", ["run", "--silent", "asyncapi"], { label: "npm run asyncapi", cwd: EXAMPLE });
    const exit = await npm.exited;
    expect(exit.code).toBe(0);
    const { document, diagnostics } = await new Parser().parse(npm.output);
    expect(diagnostics.filter((d) => d.severity === ERROR)).toEqual([]);
    expect(document).toBeDefined();
    const get = document?.channels().all().find((c) => c.address() === "orders.{id}.get");
    expect(get?.parameters().all().map((p) => p.id())).toEqual(["id"]);
    const create = document?.operations().all().find((o) => o.id() === "OrdersController_create");
    const payload = create?.messages().all()[0]?.payload()?.json() as { required?: string[]; properties?: Record<string, unknown> } | undefined;
    expect(payload?.required).toEqual(expect.arrayContaining(["item", "qty", "customer"]));
    // ORDER_CREATED: a send operation with its description and the Order schema.
    const created = document?.operations().all().find((o) => o.action() === "send" && o.channels().all()[0]?.address() === "orders.events.created");
    expect(created?.summary()).toBe("An order was created: the order as stored.");
    const event = created?.messages().all()[0]?.payload()?.json() as { required?: string[] } | undefined;
    expect(event?.required).toEqual(expect.arrayContaining(["id", "status", "item"]));
  });

  it("natsflow docs serve shows it as a page that headless Chromium renders", async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run scripts/setup-browser.sh (or set CHROMIUM_PATH).`);
    const serve = spawnTracked(process.execPath, [CLI, "docs", "serve", "dist/settings.js#createOrdersAppFromSettings", "--port", "0"], { label: "natsflow docs serve", cwd: EXAMPLE });
    try {
      await serve.waitForOutput(/natsflow docs: (http:\/\/\S+)/);
      const url = /natsflow docs: (http:\/\/\S+)/.exec(serve.output)?.[1] as string;
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--headless", "--disable-gpu"] });
      try {
        const page = await browser.newPage();
        await page.goto(url);
        expect(await page.title()).toBe("orders 0.1.0");
        const sections = await page.locator("section h2").allTextContents();
        expect(sections.some((t) => t.includes("receive") && t.includes("orders.{id}.get"))).toBe(true);
        expect(sections.some((t) => t.includes("send") && t.includes("orders.events.created"))).toBe(true);
        expect(await (await page.request.get(new URL("asyncapi.json", url).href)).json()).toMatchObject({ asyncapi: "3.0.0" });
      } finally {
        await browser.close();
      }
    } finally {
      void serve.stop();
    }
    expect((await serve.exited).code).toBe(0);
  });
});
