/** Every reflect-metadata key natsflow stores on classes, in one place. */
export const CONTROLLER_METADATA = Symbol.for("natsflow:controller");
export const HANDLERS_METADATA = Symbol.for("natsflow:handlers");
/** Parameter decorators' specs, per method, on the class. */
export const PARAMS_METADATA = Symbol.for("natsflow:params");
/** `@Use()` middleware: on the class for every handler, per method for one. */
export const USE_METADATA = Symbol.for("natsflow:use");
/** `@Publish()` subjects, per method, on the class. */
export const PUBLISH_METADATA = Symbol.for("natsflow:publish");
/** `@Catch()` exception handlers: on the class for every handler, per method for one. */
export const CATCH_METADATA = Symbol.for("natsflow:catch");
