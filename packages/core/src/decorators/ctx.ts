import { addParam } from "../metadata/handler-metadata.js";

/** The `MessageContext`: logger, message container, and slots middleware left. */
export function Ctx() {
  return (prototype: object, method: string | symbol | undefined, index: number): void => {
    addParam(prototype.constructor as new () => unknown, method as string | symbol, { index, kind: "ctx" });
  };
}
