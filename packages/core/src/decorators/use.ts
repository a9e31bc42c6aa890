import { addUse, type Target } from "../metadata/handler-metadata.js";
import type { MiddlewareSpec } from "../middleware/middleware.js";

/** Middleware for every handler of a class (on the class) or for one handler (on the method). */
export function Use(...middleware: MiddlewareSpec[]) {
  return (target: object, method?: string | symbol): void => {
    if (method === undefined) addUse(target as Target, undefined, middleware);
    else addUse((target as { constructor: Target }).constructor, method, middleware);
  };
}
