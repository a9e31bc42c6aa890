import { NatsApp, type Logger, type NatsAppOptions } from "@natsflow/core";

import { OrderRepository } from "./orders.js";
import { OrdersController } from "./orders.controller.js";
import { StatsController } from "./stats.controller.js";

export function createOrdersApp(options: Pick<NatsAppOptions, "servers" | "user" | "pass" | "transport"> & { logger?: Logger }): Promise<NatsApp> {
  return NatsApp.create({
    name: "orders-service",
    ...options,
    controllers: [OrdersController, StatsController],
    providers: [OrderRepository],
  });
}
