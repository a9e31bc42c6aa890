import { inject } from "tsyringe";

import { kvToken, type KvDeclaration } from "../resources/kv.js";

/** Injects the `KvHandle` of a `defineKv()` bucket; the bucket is set up at `start()`, so use it from then on. */
export function InjectKv<T>(bucket: KvDeclaration<T>): ParameterDecorator {
  return inject(kvToken(bucket));
}
