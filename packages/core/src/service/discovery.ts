import type { HandlerInfo } from "../dispatch/handler-info.js";
import type { Logger } from "../logging/logger.js";
import type { Transport, TransportSubscription } from "../transport/transport.js";
import type { EndpointStats } from "./endpoint-stats.js";
import {
  controlSubjects,
  endpointName,
  infoResponse,
  newServiceId,
  pingResponse,
  statsResponse,
  VERBS,
  type ResolvedService,
  type ServiceInstance,
  type Verb,
} from "./micro.js";

/** A handler that answers requests, as discovery lists it. */
export interface DiscoveryEndpoint {
  readonly info: HandlerInfo;
  readonly metadata: Readonly<Record<string, string>>;
  readonly stats: EndpointStats;
}

const encoder = new TextEncoder();
const encode = (value: object): Uint8Array => encoder.encode(JSON.stringify(value));

/**
 * Answers `$SRV.PING|INFO|STATS` (all, by name, by name and id) for one app. Plain subscriptions,
 * no queue group — every instance must answer — and outside the handlers' metrics.
 */
export class Discovery {
  /** This instance's id, one per app. */
  readonly id = newServiceId();
  private subscriptions: TransportSubscription[] = [];

  /** `endpoints`: the app's request handlers now (run-time ones come and go), each with the counters its source keeps. */
  constructor(
    private readonly service: ResolvedService,
    private readonly endpoints: () => readonly DiscoveryEndpoint[],
    private readonly transport: Transport,
    private readonly logger: Logger,
  ) {}

  start(): void {
    const { service, id } = this;
    const started = new Date().toISOString();
    const instance = (): ServiceInstance => ({
      service,
      id,
      started,
      endpoints: this.endpoints().map(({ info, metadata, stats }) => ({
        info: { name: endpointName(info.name), subject: info.subject, queue_group: info.queue ?? "", metadata },
        stats,
      })),
    });
    // Ping never changes while the app runs: encoded once.
    const ping = encode(pingResponse(instance()));
    const answers: Record<Verb, () => Uint8Array> = { PING: () => ping, INFO: () => encode(infoResponse(instance())), STATS: () => encode(statsResponse(instance())) };
    for (const verb of VERBS) {
      for (const subject of controlSubjects(verb, service.name, id)) {
        this.subscriptions.push(this.transport.subscribe(subject, {}, (m) => {
          if (m.reply) this.answer(m.reply, answers[verb]());
        }));
      }
    }
    this.logger.info({ service: service.name, id, version: service.version, endpoints: this.endpoints().length }, "NATS micro discovery on");
  }

  stop(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
  }

  private answer(reply: string, data: Uint8Array): void {
    try {
      this.transport.publish(reply, data);
    } catch (error) {
      this.logger.warn({ err: error }, "could not answer a NATS micro discovery request");
    }
  }
}
