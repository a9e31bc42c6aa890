// The page in real headless Chromium (Debian's, driven by playwright-core): log in with a bearer token,
// subscribe to an allowed subject (works) and a prohibited one (permissions violation shown).
import "reflect-metadata";

import { existsSync } from "node:fs";

import { captureLogs } from "@natsflow/testing";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { startBrowserDemo, type BrowserDemo } from "../src/stack.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

describe("browser client over WebSocket", () => {
  let demo: BrowserDemo;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run scripts/setup-browser.sh (or set CHROMIUM_PATH).`);
    demo = await startBrowserDemo({ logger: captureLogs().logger });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  it("logs in with a token, uses its own subject, and is refused elsewhere", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${demo.url}?auto`);
      await expect.poll(() => page.textContent("#allowed"), { timeout: 10_000 }).toMatch(/received "hello from the browser"/);
      await expect.poll(() => page.textContent("#denied"), { timeout: 10_000 }).toMatch(/permissions violation/i);
      expect(await page.textContent("#login")).toMatch(/logged in as alice/);
      expect(await page.getAttribute("#denied", "class")).toContain("refused");
    } finally {
      await page.close();
    }
  });

  it("a token that does not verify never connects", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(demo.url);
      // A string, so the test runner's transform leaves the page's dynamic import alone.
      const result = await page.evaluate(`(async () => {
        const { connect } = await import("/nats.ws.js");
        try {
          await connect({ servers: ${JSON.stringify(demo.nats.websocketUrl)}, token: "not-a-token", reconnect: false });
          return "connected";
        } catch (e) {
          return e.message;
        }
      })()`);
      expect(result).toMatch(/authorization violation/i);
    } finally {
      await page.close();
    }
  });
});
