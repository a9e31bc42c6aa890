import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";

import { registerLogSink } from "@natsflow/devkit";

export interface CapturedSpans {
  /** Every span ended so far, oldest first. */
  spans(): ReadableSpan[];
  /** The ended spans whose name matches. */
  find(name: RegExp): ReadableSpan[];
  reset(): void;
}

let installed: InMemorySpanExporter | undefined;

/**
 * Registers an OpenTelemetry SDK for this test process (once): a tracer provider exporting to
 * memory, W3C trace context propagation and an AsyncLocalStorage context manager — what an app's
 * own SDK set-up would do. Exported spans join the suite's secret scan. Call before `app.start()`.
 */
export function captureSpans(): CapturedSpans {
  if (!installed) {
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    installed = exporter;
  }
  const exporter = installed;
  registerLogSink("OpenTelemetry spans", () =>
    exporter
      .getFinishedSpans()
      .map((s) => JSON.stringify({ name: s.name, attributes: s.attributes, status: s.status, events: s.events }))
      .join("\n"),
  );
  return {
    spans: () => exporter.getFinishedSpans(),
    find: (name) => exporter.getFinishedSpans().filter((s) => name.test(s.name)),
    reset: () => exporter.reset(),
  };
}
