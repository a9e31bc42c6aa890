import { resolveNatsServer } from "@natsflow/testing";

/**
 * Finds or provisions nats-server once before any test file runs. A missing server is a failure,
 * never a skip: the integration tests are the point.
 */
export default async function setup(): Promise<void> {
  const server = await resolveNatsServer();
  process.env.NATS_SERVER_BIN = server.path;
  console.log(`nats-server ${server.version} at ${server.path} (${server.source})`);
}
