/**
 * A request handler's counters for `$SRV.STATS`. Plain fields: the dispatcher adds to them on every
 * message (the auth callout's hot path), discovery reads them only when asked.
 */
export class EndpointStats {
  requests = 0;
  /** Messages answered with a `Nats-Service-Error`. */
  errors = 0;
  /** That header's text for the latest error; "" until there is one. */
  lastError = "";
  /** Time from a message's start to its reply, summed over `requests`. */
  processingMs = 0;
}
