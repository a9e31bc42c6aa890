/** Implement on a provider or controller to run code after it is created and before messages flow. */
export interface OnStartup {
  onStartup(): void | Promise<void>;
}

/** Implement to run code after the app has stopped taking messages and drained. */
export interface OnShutdown {
  onShutdown(): void | Promise<void>;
}

export function hasOnStartup(x: unknown): x is OnStartup {
  return typeof (x as Partial<OnStartup> | null)?.onStartup === "function";
}

export function hasOnShutdown(x: unknown): x is OnShutdown {
  return typeof (x as Partial<OnShutdown> | null)?.onShutdown === "function";
}
