import { inject } from "tsyringe";

import { objectStoreToken, type ObjectStoreDeclaration } from "../resources/object-store.js";

/** Injects the `ObjectStoreHandle` of a `defineObjectStore()` store, usable from `start()`. */
export function InjectObjectStore(store: ObjectStoreDeclaration): ParameterDecorator {
  return inject(objectStoreToken(store));
}
