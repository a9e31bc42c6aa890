/** Every reflect-metadata key natsflow stores on classes, in one place. */
export const CONTROLLER_METADATA = Symbol.for("natsflow:controller");
export const HANDLERS_METADATA = Symbol.for("natsflow:handlers");
