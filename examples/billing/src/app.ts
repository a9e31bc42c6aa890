import { NatsApp, type Logger, type NatsAppOptions } from "@natsflow/core";

import { BillingController } from "./billing.controller.js";
import { InvoiceRepository } from "./invoices.js";
import { OrdersController } from "./orders.controller.js";

/** Orders and billing in one app; in production they would be two services sharing the stream. */
export function createBillingApp(options: Pick<NatsAppOptions, "servers" | "user" | "pass" | "creds"> & { logger?: Logger }): Promise<NatsApp> {
  return NatsApp.create({
    name: "billing-service",
    ...options,
    controllers: [OrdersController, BillingController],
    providers: [InvoiceRepository],
  });
}
