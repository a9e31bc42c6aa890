import { addPublish } from "../metadata/handler-metadata.js";

/** Publishes the handler's return value (encoded with its codec) to `subject`, besides any reply. */
export function Publish(subject: string) {
  return (prototype: object, method: string | symbol): void => {
    addPublish(prototype.constructor as new () => unknown, method, subject);
  };
}
