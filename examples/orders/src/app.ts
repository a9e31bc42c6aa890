import { catchErrors, defineRouter, NatsApp, type Logger, type NatsAppOptions, type ServiceOptions } from "@natsflow/core";

import { ORDER_CREATED, OrderNotFoundError, OrderRepository } from "./orders.js";
import { OrdersController } from "./orders.controller.js";
import { StatsController } from "./stats.controller.js";

export interface OrdersAppOptions extends Pick<NatsAppOptions, "servers" | "user" | "pass" | "transport"> {
  logger?: Logger;
  /** The NATS micro identity (`$SRV.PING/INFO/STATS`); every handler is an endpoint. */
  service: Pick<ServiceOptions, "name" | "version">;
}

/** Every subject under `orders.`, with the repository as the router's own provider. */
export const ordersRouter = defineRouter({
  prefix: "orders",
  controllers: [OrdersController, StatsController],
  providers: [OrderRepository],
  exceptionHandlers: [catchErrors(OrderNotFoundError, (err) => ({ code: 404, description: err.message }))],
});

/** The app's options, for `NatsApp.create` (tests add a spy and overrides to them). */
export function createOrdersOptions({ service, ...options }: OrdersAppOptions): NatsAppOptions {
  return {
    name: "orders-service",
    ...options,
    service: { ...service, description: "Orders: create, get, cancel and list; counts order events" },
    routers: [ordersRouter],
    publishers: [ORDER_CREATED],
  };
}

export function createOrdersApp(options: OrdersAppOptions): Promise<NatsApp> {
  return NatsApp.create(createOrdersOptions(options));
}
