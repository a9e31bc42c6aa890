import { addParam } from "../metadata/handler-metadata.js";

/** The decoded (and, with a schema, validated) payload. */
export function Payload() {
  return (prototype: object, method: string | symbol | undefined, index: number): void => {
    addParam(prototype.constructor as new () => unknown, method as string | symbol, { index, kind: "payload" });
  };
}
