/*
 * Lifespan hooks, run on providers and controllers with one instance per app: at start in creation
 * order, at stop in reverse.
 *
 *   start(): onStartup → connect → subscribe → onReady
 *   stop():  beforeShutdown → drain the subscriptions → in-flight messages finish → drain the connection → onShutdown
 */

/** Implement to run code before the app connects (open a database, load a cache). A failure fails `start()`. */
export interface OnStartup {
  onStartup(): void | Promise<void>;
}

/**
 * Implement to run code once the app is connected and every handler is subscribed, before `start()`
 * resolves and before `/readyz` reports ready: announce the service with the injected `Broker`.
 * A failure fails `start()`, which then closes the connection.
 */
export interface OnReady {
  onReady(): void | Promise<void>;
}

/**
 * Implement to run code when `stop()` begins, while the app is still connected and still handling
 * messages: say goodbye with the injected `Broker`. A failure is logged and the stop goes on.
 */
export interface BeforeShutdown {
  beforeShutdown(): void | Promise<void>;
}

/** Implement to run code after the app has stopped taking messages and drained its connection. */
export interface OnShutdown {
  onShutdown(): void | Promise<void>;
}

export type LifespanHook = keyof (OnStartup & OnReady & BeforeShutdown & OnShutdown);

export function hasHook<K extends LifespanHook>(x: object, hook: K): x is Record<K, () => void | Promise<void>> {
  return typeof (x as Partial<Record<K, unknown>>)[hook] === "function";
}
