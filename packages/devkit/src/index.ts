// What the CLI and the test kit share, without the test kit's weight (no OpenTelemetry SDK): a
// nats-server found or provisioned and started, processes tracked until they exit, the secret scan's
// registry, and callout identities (keys, server configuration, operator-mode JWTs).
export { startNatsServer, NatsServer, NatsServerStartError } from "./nats-server/launcher.js";
export type { NatsServerConfig, StartNatsServerOptions } from "./nats-server/launcher.js";
export {
  cacheDir,
  MIN_NATS_SERVER_VERSION,
  natsServerVersion,
  NatsServerNotFoundError,
  onPath,
  resolveNatsServer,
} from "./nats-server/resolve.js";
export type { ResolvedNatsServer } from "./nats-server/resolve.js";
export { freePort, startNatsCluster } from "./nats-server/cluster.js";
export type { NatsCluster, NatsClusterOptions } from "./nats-server/cluster.js";
export { configModeCallout, newAccountKey, newCurveKey } from "./callout/callout-setup.js";
export type { ConfigModeCallout, ConfigModeCalloutOptions, KeyPairText } from "./callout/callout-setup.js";
export { operatorModeCallout } from "./callout/operator-setup.js";
export type { OperatorAccount, OperatorModeCallout, OperatorModeCalloutOptions } from "./callout/operator-setup.js";
export { registerLogSink, registerSecret, resetSecretScan, scanLogsForSecrets } from "./secret-scan.js";
export type { SecretFinding } from "./secret-scan.js";
export { forkTracked, processesLeftRunning, ProcessLeftRunningError, spawnTracked, trackChildProcess, TrackedProcess } from "./processes.js";
export type { ProcessExit } from "./processes.js";
export { recordImports } from "./imports.js";
export type { ImportedModule } from "./imports.js";
