import { Consume, Controller, Delivery, inject, KvEntry, LOGGER, Payload, WatchKv, type JetStreamDelivery, type KvEntryInfo, type Logger } from "@natsflow/core";

import { InvoiceRepository } from "./invoices.js";
import { FLAGS, ORDERS, OrderPlaced, type Flags } from "./streams.js";

/**
 * Bills every placed order exactly once per order id: a failed write is retried after 200 ms, then
 * 1 s; after 3 deliveries, or at once for an event that is not an order, it goes to orders.dlq.
 */
@Controller()
export class BillingController {
  private discountPercent = 0;

  constructor(
    private readonly invoices: InvoiceRepository,
    @inject(LOGGER) private readonly logger: Logger,
  ) {}

  @Consume("orders.events.placed", {
    stream: ORDERS,
    durable: "billing",
    schema: OrderPlaced,
    concurrency: 8,
    retry: { backoffMs: [200, 1_000], maxDeliver: 3 },
    deadLetter: "orders.dlq",
  })
  bill(@Payload() order: OrderPlaced, @Delivery() delivery: JetStreamDelivery): void {
    if (this.invoices.find(order.id)) return; // a redelivery after a lost ack: already billed
    this.invoices.save({ orderId: order.id, customer: order.customer, amountCents: order.amountCents, discountPercent: this.discountPercent });
    this.logger.info({ order: order.id, deliveries: delivery.deliveries }, "order billed");
  }

  @WatchKv(FLAGS, { keys: "discount" })
  onDiscount(@Payload() flags: Flags | undefined, @KvEntry() entry: KvEntryInfo): void {
    this.discountPercent = flags?.discountPercent ?? 0;
    this.logger.info({ discountPercent: this.discountPercent, revision: entry.revision }, "discount changed");
  }
}
