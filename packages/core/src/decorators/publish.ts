import { addPublish } from "../metadata/handler-metadata.js";
import type { PublishOptions } from "../pipeline/publish.js";

/** Publishes the handler's return value (encoded with its codec) to `subject`, besides any reply. */
export function Publish(subject: string, options: PublishOptions = {}) {
  return (prototype: object, method: string | symbol): void => {
    addPublish(prototype.constructor as new () => unknown, method, { subject, ...options });
  };
}
