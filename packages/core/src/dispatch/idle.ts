/** Who waits for a dispatcher to have no message left in flight (`stop()` does, before draining). */
export class IdleWaiters {
  private waiters: Array<() => void> = [];

  /** Resolves at once when `idle`, else at the next `notify()`. */
  wait(idle: boolean): Promise<void> {
    if (idle) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
