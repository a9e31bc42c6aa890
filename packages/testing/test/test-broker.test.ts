import { TestBroker, subjectMatches } from "@natsflow/testing";
import { NoRespondersError, RequestTimeoutError } from "@natsflow/core";
import { describe, expect, it } from "vitest";

const enc = new TextEncoder();

describe("subjectMatches", () => {
  it.each([
    ["a.b", "a.b", true],
    ["a.*", "a.b", true],
    ["a.*", "a.b.c", false],
    ["a.>", "a.b.c", true],
    ["a.>", "a", false],
    [">", "x", true],
    ["*.b.*", "a.b.c", true],
    ["a.b", "a.b.c", false],
  ])("%s ~ %s → %s", (filter, subject, expected) => {
    expect(subjectMatches(filter, subject)).toBe(expected);
  });
});

describe("TestBroker", () => {
  it("delivers each message to one member of a queue group and to every plain subscriber", async () => {
    const broker = new TestBroker();
    const conn = broker.connect();
    const counts = { q1: 0, q2: 0, plain: 0 };
    conn.subscribe("jobs.*", { queue: "workers" }, () => counts.q1++);
    conn.subscribe("jobs.*", { queue: "workers" }, () => counts.q2++);
    conn.subscribe("jobs.>", {}, () => counts.plain++);
    for (let i = 0; i < 50; i++) conn.publish("jobs.run", enc.encode(String(i)));
    await new Promise((r) => setTimeout(r, 10));
    expect(counts.q1 + counts.q2).toBe(50);
    expect(counts.plain).toBe(50);
  });

  it("does request/reply with headers, no-responders and timeouts", async () => {
    const broker = new TestBroker();
    const server = broker.connect();
    server.subscribe("echo", {}, (m) => server.publish(m.reply as string, m.data, { headers: { "X-Seen": m.headers?.get("X-In") ?? "" } }));
    server.subscribe("silent", {}, () => undefined);
    const client = broker.connect();
    const reply = await client.request("echo", enc.encode("hi"), { timeoutMs: 500, headers: { "X-In": "1" } });
    expect(new TextDecoder().decode(reply.data)).toBe("hi");
    expect(reply.headers?.get("X-Seen")).toBe("1");
    await expect(client.request("nobody", enc.encode(""), { timeoutMs: 500 })).rejects.toBeInstanceOf(NoRespondersError);
    await expect(client.request("silent", enc.encode(""), { timeoutMs: 50 })).rejects.toBeInstanceOf(RequestTimeoutError);
  });

  it("stops delivering after unsubscribe and close", async () => {
    const broker = new TestBroker();
    const conn = broker.connect();
    let n = 0;
    const sub = conn.subscribe("x", {}, () => n++);
    sub.unsubscribe();
    conn.publish("x", enc.encode(""));
    await conn.close();
    expect(() => conn.publish("x", enc.encode(""))).toThrow(/closed/);
    await new Promise((r) => setTimeout(r, 5));
    expect(n).toBe(0);
  });
});
