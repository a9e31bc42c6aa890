// The nats-server launcher, process tracking, the secret scan and callout identities live in
// @natsflow/devkit (shared with the CLI, which must not install this kit's OpenTelemetry SDK).
export * from "@natsflow/devkit";

export { FakeCalloutServer } from "./callout/fake-server.js";
export type { CalloutAnswer, FakeServerOptions, MintedRequest, MintOptions } from "./callout/fake-server.js";

export { TestBroker, subjectMatches } from "./memory/test-broker.js";
export type { ConsumerState, StoredMessage } from "./memory/memory-jetstream.js";
export { captureLogs } from "./logs.js";
export { captureSpans } from "./spans.js";
export type { CapturedSpans } from "./spans.js";
export type { CapturedLogs } from "./logs.js";
export { createCalloutHarness } from "./callout/harness.js";
export type { CalloutHarness, CalloutHarnessOptions } from "./callout/harness.js";
export { createTestPki } from "./tls/pki.js";
export type { CertificateFiles, TestPki } from "./tls/pki.js";
export { startTestIdentityProvider } from "./identity/identity-provider.js";
export type { TestIdentityProvider } from "./identity/identity-provider.js";
export { AppSpy, CallSpy, createSpy } from "./spy.js";
export type { Expected, HandlerCall, SentCall } from "./spy.js";
export { PostgresStartError, startPostgres } from "./postgres/launcher.js";
export type { PostgresServer, StartPostgresOptions } from "./postgres/launcher.js";
export { PostgresNotFoundError, postgresOrSkip, resolvePostgres } from "./postgres/resolve.js";
export type { ResolvedPostgres } from "./postgres/resolve.js";
