/** How an app decides whether to trace: by asking whether an OpenTelemetry SDK is registered, without making a span. */
import { trace } from "@opentelemetry/api";
import { captureSpans } from "@natsflow/testing";
import { expect, it } from "vitest";

import { Tracing } from "../src/observability/tracing.js";

it("is off with no SDK registered, on once one is, and exports nothing by asking", async () => {
  trace.disable();
  const before = new Tracing(undefined);
  await before.decide();
  expect(before.enabled).toBe(false);
  const spans = captureSpans();
  const after = new Tracing(undefined);
  await after.decide();
  expect(after.enabled).toBe(true);
  expect(spans.spans()).toEqual([]);
  const forced = new Tracing(false);
  await forced.decide();
  expect(forced.enabled).toBe(false);
});
