import { startNatsServer } from "@natsflow/devkit";

import { run } from "./run.js";

/**
 * `natsflow dev <module>`: a nats-server with JetStream (its store in a temporary directory) and the
 * app under `run --watch`, until Ctrl-C stops both. The app finds the server in NATS_URL, and logs
 * readable lines (LOG_FORMAT=pretty, LOG_LEVEL=debug) unless those are set.
 */
export async function dev(spec: string, options: { port: number; envFile: string | undefined }): Promise<number> {
  const server = await startNatsServer({ jetstream: true, config: options.port === 0 ? {} : { port: options.port } }).catch((e: unknown) => {
    throw new Error(`cannot start nats-server on port ${options.port} (${(e as Error).message.split("\n")[0]}); free it or pass --port`, { cause: e });
  });
  process.env.NATS_URL = server.url;
  // For a person at a terminal: readable lines, each handled message among them (production stays JSON at info).
  process.env.LOG_FORMAT ??= "pretty";
  process.env.LOG_LEVEL ??= "debug";
  process.stderr.write(
    `natsflow dev: nats-server with JetStream at ${server.url} (NATS_URL is set for the app)\n` +
      `  talk to it:  natsflow request <subject> '<json>' --server ${server.url}\n` +
      `  or:          nats --server ${server.url} …\n`,
  );
  try {
    return await run(spec, { watch: true, workers: 1, envFile: options.envFile });
  } finally {
    await server.stop();
  }
}
