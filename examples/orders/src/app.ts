import { NatsApp, type Logger, type NatsAppOptions, type ServiceOptions } from "@natsflow/core";

import { OrderRepository } from "./orders.js";
import { OrdersController } from "./orders.controller.js";
import { StatsController } from "./stats.controller.js";

export interface OrdersAppOptions extends Pick<NatsAppOptions, "servers" | "user" | "pass" | "transport"> {
  logger?: Logger;
  /** The NATS micro identity (`$SRV.PING/INFO/STATS`); every handler is an endpoint. */
  service: Pick<ServiceOptions, "name" | "version">;
}

export function createOrdersApp({ service, ...options }: OrdersAppOptions): Promise<NatsApp> {
  return NatsApp.create({
    name: "orders-service",
    ...options,
    service: { ...service, description: "Orders: create, get, cancel and list; counts order events" },
    controllers: [OrdersController, StatsController],
    providers: [OrderRepository],
  });
}
