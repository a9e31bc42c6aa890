/**
 * The promise a step of a chain returns when it finished synchronously. Callers compare by identity
 * and carry on at once: a message whose handler and middleware are all synchronous then costs no
 * promise, no `.then` and no microtask of its own.
 */
export const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Runs `next(arg)` after `done`: at once when `done` is `RESOLVED` (a throw becomes a rejection),
 * else when it settles. `arg` is passed rather than closed over, so the synchronous path allocates nothing.
 */
export function andThen<A>(done: Promise<void>, next: (arg: A) => Promise<void> | void, arg: A): Promise<void> {
  if (done !== RESOLVED) return done.then(() => next(arg));
  try {
    return next(arg) ?? RESOLVED;
  } catch (e) {
    return Promise.reject(e);
  }
}
