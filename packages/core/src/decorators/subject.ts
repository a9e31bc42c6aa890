import { addParam } from "../metadata/handler-metadata.js";

/** The subject the message was published on (useful with wildcards). */
export function Subject() {
  return (prototype: object, method: string | symbol | undefined, index: number): void => {
    addParam(prototype.constructor as new () => unknown, method as string | symbol, { index, kind: "subject" });
  };
}
