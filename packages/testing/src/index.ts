export { startNatsServer, NatsServer, NatsServerStartError } from "./nats-server/launcher.js";
export type { NatsServerConfig, StartNatsServerOptions } from "./nats-server/launcher.js";
export {
  cacheDir,
  MIN_NATS_SERVER_VERSION,
  natsServerVersion,
  NatsServerNotFoundError,
  resolveNatsServer,
} from "./nats-server/resolve.js";
export type { ResolvedNatsServer } from "./nats-server/resolve.js";

export { configModeCallout, newAccountKey, newCurveKey } from "./callout/callout-setup.js";
export type { ConfigModeCallout, ConfigModeCalloutOptions, KeyPairText } from "./callout/callout-setup.js";
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
export { operatorModeCallout } from "./callout/operator-setup.js";
export type { OperatorAccount, OperatorModeCallout, OperatorModeCalloutOptions } from "./callout/operator-setup.js";
export { createTestPki } from "./tls/pki.js";
export type { CertificateFiles, TestPki } from "./tls/pki.js";
export { startTestIdentityProvider } from "./identity/identity-provider.js";
export type { TestIdentityProvider } from "./identity/identity-provider.js";
export { registerLogSink, registerSecret, resetSecretScan, scanLogsForSecrets } from "./secret-scan.js";
export type { SecretFinding } from "./secret-scan.js";
export { freePort, startNatsCluster } from "./nats-server/cluster.js";
export type { NatsCluster, NatsClusterOptions } from "./nats-server/cluster.js";
export { forkTracked, processesLeftRunning, ProcessLeftRunningError, spawnTracked, trackChildProcess, TrackedProcess } from "./processes.js";
export type { ProcessExit } from "./processes.js";
export { AppSpy, CallSpy, createSpy } from "./spy.js";
export type { Expected, HandlerCall, SentCall } from "./spy.js";
