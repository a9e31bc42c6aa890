import type { HandlerInfo } from "../dispatch/handler-info.js";

/**
 * A source's metric series by the handler a message ran through: its binding's own, bound once, and
 * (for a shared source) each handler's its filters routed to, bound on first use.
 */
export class SeriesByHandler<S> {
  readonly own: S;
  private readonly routed = new Map<string, S>();

  constructor(
    private readonly info: HandlerInfo,
    private readonly make: (handler: string) => S,
  ) {
    this.own = make(info.name);
  }

  of(handler: HandlerInfo): S {
    if (handler === this.info) return this.own;
    let series = this.routed.get(handler.name);
    if (!series) this.routed.set(handler.name, (series = this.make(handler.name)));
    return series;
  }
}
