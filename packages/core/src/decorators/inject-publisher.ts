import { inject } from "tsyringe";

import { publisherToken, type PublisherDeclaration } from "../broker/publisher.js";

/** Injects the app's `Publisher` of a `definePublisher()` declaration; it sends once the app has started. */
export function InjectPublisher<T, R>(declaration: PublisherDeclaration<T, R>): ParameterDecorator {
  return inject(publisherToken(declaration));
}
