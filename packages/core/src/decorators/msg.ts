import { addParam } from "../metadata/handler-metadata.js";

/** The raw `InboundMessage`: subject, bytes, reply subject, headers. */
export function Msg() {
  return (prototype: object, method: string | symbol | undefined, index: number): void => {
    addParam(prototype.constructor as new () => unknown, method as string | symbol, { index, kind: "msg" });
  };
}
