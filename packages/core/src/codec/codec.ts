import { SetupError } from "../errors.js";

/** Turns message bytes into values and back. Payloads stay plain, so any NATS client can talk to a handler. */
export interface Codec<T = unknown> {
  readonly name: string;
  decode(data: Uint8Array): T;
  encode(value: T): Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export const jsonCodec: Codec = {
  name: "json",
  // An empty body (a bare request) is "no value", not malformed JSON; a schema still decides if that is allowed.
  decode: (data) => (data.length === 0 ? undefined : (JSON.parse(decoder.decode(data)) as unknown)),
  encode: (value) => {
    const text = JSON.stringify(value);
    // JSON.stringify returns undefined for functions and symbols: not a payload.
    if (text === undefined) throw new TypeError(`cannot encode ${typeof value} as JSON`);
    return encoder.encode(text);
  },
};

export const stringCodec: Codec<string> = {
  name: "string",
  decode: (data) => decoder.decode(data),
  encode: (value) => encoder.encode(typeof value === "string" ? value : String(value)),
};

export const bytesCodec: Codec<Uint8Array> = {
  name: "bytes",
  decode: (data) => data,
  encode: (value) => {
    if (!(value instanceof Uint8Array)) throw new TypeError("the bytes codec encodes Uint8Array values only");
    return value;
  },
};

export type CodecOption = "json" | "string" | "bytes" | Codec;

const BUILT_IN: Record<string, Codec> = { json: jsonCodec, string: stringCodec as Codec, bytes: bytesCodec as Codec };

export function resolveCodec(option: CodecOption | undefined, setting: string): Codec {
  if (option === undefined) return jsonCodec;
  if (typeof option === "string") {
    const codec = BUILT_IN[option];
    if (!codec) throw new SetupError(setting, `unknown codec "${option}".`, 'use "json", "string", "bytes", or a { decode, encode } object.');
    return codec;
  }
  if (typeof option?.decode !== "function" || typeof option.encode !== "function") {
    throw new SetupError(setting, "is not a codec.", "give an object with decode(bytes) and encode(value).");
  }
  return option;
}
