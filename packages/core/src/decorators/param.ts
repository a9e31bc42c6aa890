import { addParam } from "../metadata/handler-metadata.js";

/** The subject token matched by `{name}` in the handler's subject. */
export function Param(name: string) {
  return (prototype: object, method: string | symbol | undefined, index: number): void => {
    addParam(prototype.constructor as new () => unknown, method as string | symbol, { index, kind: "param", name });
  };
}
