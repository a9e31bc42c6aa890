/** The one validator every transport calls before anything is written: its edge cases. */
import {
  checkBucketName,
  checkHeaders,
  checkJetStreamSend,
  checkKvKey,
  checkSend,
  checkSubscription,
  compileSubject,
  InvalidHeaderError,
  InvalidSubjectError,
  isValidSubject,
  isValidSubjectFilter,
  MAX_SUBJECT_BYTES,
} from "@natsflow/core";
import { describe, expect, it } from "vitest";

import { isUsableCorrelationId } from "../src/dispatch/context.js";
import { quoted } from "../src/errors.js";
import { filtersOverlap, headerText, queueProblem, wildcardParam } from "../src/subjects.js";

const thrown = (f: () => void): Error | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return e as Error;
  }
};

describe("subjects", () => {
  it("takes dot-separated tokens of any non-space Unicode, up to the byte limit", () => {
    for (const s of ["a", "orders.42.get", "$JS.API.INFO", "_INBOX.abc.1", "a-b_c:d/e=f", "é.ü.ß", "日本.語", "😀.x", "a*b", "a>b", "x".repeat(MAX_SUBJECT_BYTES)]) {
      expect(isValidSubject(s), s).toBe(true);
    }
    // 341 three-byte characters are 1023 bytes; 342 are 1026.
    expect(isValidSubject("語".repeat(341))).toBe(true);
    expect(isValidSubject("語".repeat(342))).toBe(false);
    expect(isValidSubject("😀".repeat(256))).toBe(true);
    expect(isValidSubject("😀".repeat(257))).toBe(false);
    expect(isValidSubject("x".repeat(MAX_SUBJECT_BYTES + 1))).toBe(false);
  });

  it("refuses empty tokens, whitespace, control characters, lone surrogates and wildcards where they cannot be", () => {
    const bad: Array<[string, RegExp]> = [
      ["", /empty/],
      [".", /empty token/],
      ["a.", /empty token/],
      [".a", /empty token/],
      ["a..b", /empty token/],
      ["a b", /a space/],
      ["a\tb", /a tab/],
      ["a\r\nPUB x 1", /control character/],
      ["a\nb", /control character/],
      ["a\u0000b", /control character/],
      ["a\u007fb", /control character/],
      ["a\u0085b", /control character/],
      ["a\u00a0b", /whitespace/],
      ["a\u2028b", /whitespace/],
      ["a\u3000b", /whitespace/],
      ["a\ufeffb", /whitespace/],
      ["a\ud800", /lone surrogate/],
      ["a\ud800b", /lone surrogate/],
      ["a\udc00b", /lone surrogate/],
      ["a.*", /wildcard token \(\*\)/],
      ["*", /wildcard/],
      ["a.>", /wildcard token \(>\)/],
      ["a.>.b", /wildcard/],
    ];
    for (const [s, reason] of bad) {
      const e = thrown(() => checkSend(s, undefined, undefined));
      expect(e, JSON.stringify(s)).toBeInstanceOf(InvalidSubjectError);
      expect(e?.message, JSON.stringify(s)).toMatch(reason);
      expect(isValidSubject(s)).toBe(false);
    }
  });

  it("allows * anywhere and > last in a filter, never in a literal subject", () => {
    for (const s of ["*", ">", "a.*", "a.>", "*.*.>", "a.*.b"]) expect(isValidSubjectFilter(s), s).toBe(true);
    for (const s of ["a.>.b", ">.a", "a..*", "a.* ", "a.\r\n>"]) expect(isValidSubjectFilter(s), s).toBe(false);
    expect(() => checkSubscription("a.>", undefined)).not.toThrow();
    expect(thrown(() => checkSubscription(">.a", undefined))?.message).toMatch(/^invalid subject filter ">\.a": > before the last token$/);
  });

  it("names the subject escaped, so a CR/LF never reaches a log line raw, and cuts a long one", () => {
    const e = thrown(() => checkSend("audit.x\r\nPUB admin.shutdown 2\r\nhi", undefined, undefined)) as InvalidSubjectError;
    expect(e.message).toBe('invalid subject "audit.x\\r\\nPUB admin.shutdown 2\\r\\nhi": a control character');
    expect(e.message).not.toMatch(/[\r\n]/);
    expect(e.name).toBe("InvalidSubjectError");
    expect(quoted("a\u2028b\u0085c\u007f")).toBe('"a\\u2028b\\u0085c\\u007f"');
    const long = thrown(() => checkSend("x".repeat(5000), undefined, undefined)) as Error;
    expect(long.message).toMatch(/^invalid subject "x{200}"… \(5000 characters\): longer than 1024 bytes$/);
  });

  it("checks the reply subject and the headers of a send", () => {
    expect(thrown(() => checkSend("a", "_INBOX.x y", undefined))?.message).toMatch(/^invalid reply subject "_INBOX\.x y"/);
    expect(thrown(() => checkSend("a", "admin.>", undefined))).toBeInstanceOf(InvalidSubjectError);
    expect(() => checkSend("a", "_INBOX.abc.1", { "X-Id": "1", Multi: ["a", "b c"], Tab: "a\tb", Unicode: "é😀" })).not.toThrow();
  });

  it("takes header names of HTTP token characters and values without control characters; never shows a value", () => {
    const names = ["", "X Id", "X:Id", "X\r\nId", "Ä", "X(Id)", "X/Id"];
    for (const name of names) {
      const e = thrown(() => checkHeaders({ [name]: "v" }));
      expect(e, JSON.stringify(name)).toBeInstanceOf(InvalidHeaderError);
      expect(e?.message).not.toMatch(/[\r\n]/);
    }
    for (const value of ["a\r\nInjected: yes", "a\nb", "a\rb", "a\u0000b", "a\u001bb", "a\u007fb"]) {
      const e = thrown(() => checkHeaders({ Authorization: value })) as InvalidHeaderError;
      expect(e, JSON.stringify(value)).toBeInstanceOf(InvalidHeaderError);
      expect(e.message).toBe('invalid header "Authorization": a value may not hold CR, LF, NUL or another control character');
    }
    expect(thrown(() => checkHeaders({ X: ["ok", "bad\n"] }))).toBeInstanceOf(InvalidHeaderError);
    expect(thrown(() => checkHeaders({ X: 42 as unknown as string }))?.message).toMatch(/must be a string, got a number/);
    expect(() => checkHeaders({ "Nats-Msg-Id": "1", "!#$%&'*+-.^_`|~": "", X: "" })).not.toThrow();
  });

  it("checks a JetStream publish's msgId and expected stream, which travel as headers", () => {
    expect(() => checkJetStreamSend("a.b", { msgId: "m-1", expect: { stream: "S" } })).not.toThrow();
    expect(thrown(() => checkJetStreamSend("a.b", { msgId: "m\r\n1" }))?.message).toMatch(/^invalid header "Nats-Msg-Id"/);
    expect(thrown(() => checkJetStreamSend("a.b", { expect: { stream: "S\n" } }))?.message).toMatch(/^invalid header "Nats-Expected-Stream"/);
    expect(thrown(() => checkJetStreamSend("a.*", {}))).toBeInstanceOf(InvalidSubjectError);
  });

  it("takes a queue group name without whitespace or control characters", () => {
    for (const q of ["orders", "a.b", "q-1_x", "*"]) expect(queueProblem(q), q).toBeUndefined();
    for (const q of ["", "a b", "a\r\n", "a\u0000", "x".repeat(MAX_SUBJECT_BYTES + 1)]) expect(queueProblem(q), JSON.stringify(q)).toBeDefined();
    expect(thrown(() => checkSubscription("a", "q 1 2"))?.message).toBe('invalid queue group "q 1 2": a space');
  });

  it("checks KV keys and bucket names as the subjects they become", () => {
    for (const k of ["user.42", "a/b=c", "a-b_c"]) expect(() => checkKvKey(k), k).not.toThrow();
    for (const k of ["", "a..b", ".a", "a.", "a b", "a*", "a.>", "a\r\nb", "é"]) expect(thrown(() => checkKvKey(k)), JSON.stringify(k)).toBeInstanceOf(InvalidSubjectError);
    expect(() => checkKvKey("users.*", true)).not.toThrow();
    expect(() => checkKvKey(">", true)).not.toThrow();
    expect(thrown(() => checkKvKey("a.>.b", true))).toBeInstanceOf(InvalidSubjectError);
    expect(() => checkBucketName("users-1_x")).not.toThrow();
    for (const b of ["", "a.b", "a b", "a*", "é"]) expect(thrown(() => checkBucketName(b)), b).toBeInstanceOf(InvalidSubjectError);
  });

  it("explains a handler subject it cannot compile, escaped", () => {
    expect(compileSubject("orders", "{id}.get")).toMatchObject({ filter: "orders.*.get" });
    expect(compileSubject(undefined, "a\r\n.{id}")).toBe('"a\\r\\n.{id}" is not a valid NATS subject: a control character');
  });
});

describe("{param} values", () => {
  it("names a parameter that is empty, * or >", () => {
    const params = new Map([["id", 1], ["op", 2]]);
    expect(wildcardParam("orders.42.get", params)).toBeUndefined();
    expect(wildcardParam("orders.*.get", params)).toBe("id");
    expect(wildcardParam("orders.>.get", params)).toBe("id");
    expect(wildcardParam("orders..get", params)).toBe("id");
    expect(wildcardParam("orders.42.>", params)).toBe("op");
    expect(wildcardParam("orders.42", params)).toBe("op");
    expect(wildcardParam("orders.a*.b>", params)).toBeUndefined();
  });
});

describe("header text natsflow writes itself", () => {
  it("turns runs of control characters into a space and cuts to the limit", () => {
    expect(headerText("order 7\r\nnot found\u0000!", 512)).toBe("order 7 not found !");
    expect(headerText("tab\tkept", 512)).toBe("tab\tkept");
    expect(headerText("x".repeat(600), 512)).toHaveLength(512);
    expect(() => checkHeaders({ X: headerText("a\r\n\u001b[31mred", 512) })).not.toThrow();
  });
});

describe("inbound correlation ids", () => {
  it("passes on 1–128 printable ASCII characters without spaces, nothing else", () => {
    for (const id of ["corr-123", "0af7651916cd43dd8448eb211c80319c", "a:b/c=d+e", "x".repeat(128)]) expect(isUsableCorrelationId(id), id).toBe(true);
    for (const id of ["", "x".repeat(129), "a b", "a\r\nb", "a\u0000", "é", "a\tb", "a\u007f"]) expect(isUsableCorrelationId(id), JSON.stringify(id)).toBe(false);
  });
});

describe("overlapping filters (a consumer's filter subjects must not)", () => {
  it.each<[string, string, boolean]>([
    ["orders.a", "orders.a", true],
    ["orders.*", "orders.a", true],
    ["orders.>", "orders.a.b", true],
    ["orders.*.x", "orders.a.*", true],
    ["orders.a", "orders.b", false],
    ["orders.>", "orders", false],
    ["orders.*", "orders.a.b", false],
    ["orders.a.>", "orders.b.>", false],
  ])("%s and %s: %s", (a, b, overlap) => {
    expect(filtersOverlap(a, b)).toBe(overlap);
    expect(filtersOverlap(b, a)).toBe(overlap);
  });
});
