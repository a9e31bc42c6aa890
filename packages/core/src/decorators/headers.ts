import { addParam } from "../metadata/handler-metadata.js";

/** The message's headers (`MessageHeaders`), or undefined when it has none. */
export function Headers() {
  return (prototype: object, method: string | symbol | undefined, index: number): void => {
    addParam(prototype.constructor as new () => unknown, method as string | symbol, { index, kind: "headers" });
  };
}
