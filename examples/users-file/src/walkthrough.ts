import { connect, type NatsConnection } from "nats";

/** One scripted check against a running server + service. */
export interface StepResult {
  step: string;
  expected: string;
  ok: boolean;
  detail: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

interface UserInfo {
  user: string;
  account: string;
}

/** Asks the server who this connection is ($SYS.REQ.USER.INFO answers for the caller). */
export async function whoAmI(nc: NatsConnection): Promise<UserInfo> {
  const reply = await nc.request("$SYS.REQ.USER.INFO", enc.encode(""), { timeout: 2000 });
  const body = JSON.parse(dec.decode(reply.data)) as { data?: UserInfo };
  if (!body.data) throw new Error(`no user info: ${dec.decode(reply.data)}`);
  return body.data;
}

/** Publishes and collects the asynchronous permission error, if the server sends one. */
async function publishAndWatch(nc: NatsConnection, subject: string): Promise<string | undefined> {
  let violation: string | undefined;
  const watcher = (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && /permissions[ _]violation/i.test(String(s.data))) {
        violation = `server reported ${String(s.data)} for a publish to ${subject}`;
        return;
      }
    }
  })();
  nc.publish(subject, enc.encode("hello"));
  await nc.flush();
  await new Promise((r) => setTimeout(r, 200));
  void watcher;
  return violation;
}

/** Publishes on `subject` while subscribed to it: proof the message really went through. */
async function roundTrip(nc: NatsConnection, subject: string): Promise<boolean> {
  const sub = nc.subscribe(subject, { max: 1 });
  const got = (async () => {
    for await (const m of sub) return dec.decode(m.data) === "hello";
    return false;
  })();
  await nc.flush();
  nc.publish(subject, enc.encode("hello"));
  const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), 2000));
  return Promise.race([got, timeout]);
}

async function step(results: StepResult[], name: string, expected: string, run: () => Promise<string>, print: (r: StepResult) => void): Promise<void> {
  let result: StepResult;
  try {
    result = { step: name, expected, ok: true, detail: await run() };
  } catch (e) {
    result = { step: name, expected, ok: false, detail: (e as Error).message };
  }
  results.push(result);
  print(result);
}

/**
 * The five outcomes of the NATS-by-example auth callout scenario: alice publishes; bob is refused
 * on `test`; bob publishes on `bob.test`; an unknown user is rejected; sys reaches the system account.
 */
export async function runWalkthrough(url: string, print: (r: StepResult) => void = () => undefined): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const login = (user: string, pass: string) => connect({ servers: url, user, pass, reconnect: false });

  await step(results, "alice publishes on test", "delivered, in account APP", async () => {
    const nc = await login("alice", "alice");
    try {
      const me = await whoAmI(nc);
      if (me.account !== "APP") throw new Error(`alice is in account ${me.account}`);
      if (!(await roundTrip(nc, "test"))) throw new Error("alice's message on test did not arrive");
      return `alice (account ${me.account}) published and received on test`;
    } finally {
      await nc.close();
    }
  }, print);

  await step(results, "bob publishes on test", "refused: permissions violation", async () => {
    const nc = await login("bob", "bob");
    try {
      const violation = await publishAndWatch(nc, "test");
      if (!violation) throw new Error("bob published on test without a permissions violation");
      return violation;
    } finally {
      await nc.close();
    }
  }, print);

  await step(results, "bob publishes on bob.test", "delivered", async () => {
    const nc = await login("bob", "bob");
    try {
      if (!(await roundTrip(nc, "bob.test"))) throw new Error("bob's message on bob.test did not arrive");
      return "bob published and received on bob.test";
    } finally {
      await nc.close();
    }
  }, print);

  await step(results, "an unknown user connects", "rejected: authorization violation", async () => {
    try {
      const nc = await login("mallory", "guess");
      await nc.close();
    } catch (e) {
      if (/authorization violation/i.test((e as Error).message)) return (e as Error).message;
      throw e;
    }
    throw new Error("mallory was let in");
  }, print);

  await step(results, "sys pings the servers", "in the system account, $SYS.REQ.SERVER.PING answers", async () => {
    const nc = await login("sys", "sys");
    try {
      const me = await whoAmI(nc);
      if (me.account !== "SYS") throw new Error(`sys is in account ${me.account}`);
      const pong = await nc.request("$SYS.REQ.SERVER.PING", enc.encode(""), { timeout: 2000 });
      const body = JSON.parse(dec.decode(pong.data)) as { server?: { id?: string } };
      return `server ${body.server?.id ?? "?"} answered sys (account ${me.account})`;
    } finally {
      await nc.close();
    }
  }, print);

  return results;
}
