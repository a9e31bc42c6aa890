import { addParam } from "../metadata/handler-metadata.js";

/** The `JetStreamDelivery` of a `@Consume` handler's message: sequence, deliveries, ack/nak/term/working. */
export function Delivery() {
  return (prototype: object, method: string | symbol | undefined, index: number): void => {
    addParam(prototype.constructor as new () => unknown, method as string | symbol, { index, kind: "delivery" });
  };
}
