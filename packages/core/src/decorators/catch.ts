import { checkExceptionHandlers, type ExceptionHandler } from "../dispatch/exceptions.js";
import { addCatch, type Target } from "../metadata/handler-metadata.js";

/**
 * Exception handlers (`catchErrors(…)`) for every handler of a class (on the class) or for one
 * handler (on the method). The nearest level with a handler for an error's class wins: method,
 * class, routers (innermost first), app.
 */
export function Catch(...handlers: ExceptionHandler[]) {
  return (target: object, method?: string | symbol): void => {
    checkExceptionHandlers("@Catch", handlers);
    if (method === undefined) addCatch(target as Target, undefined, handlers);
    else addCatch((target as { constructor: Target }).constructor, method, handlers);
  };
}
