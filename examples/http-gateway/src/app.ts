import { NatsApp, type NatsAppOptions, type Provider } from "@natsflow/core";

import { GATEWAY_OPTIONS, HttpGateway, type GatewayOptions } from "./gateway.js";
import { OrderRepository } from "./orders.js";
import { OrdersController } from "./orders.controller.js";

export interface GatewayAppOptions extends Omit<NatsAppOptions, "controllers" | "providers" | "routers"> {
  http: GatewayOptions;
  /** Also serve `orders.*` in this process; `false` when the orders service runs elsewhere. */
  serveOrders: boolean;
}

/** One container: the gateway (Fastify) and, with `serveOrders`, the NATS orders service beside it. */
export function createGatewayOptions({ http, serveOrders, ...options }: GatewayAppOptions): NatsAppOptions {
  const providers: Provider[] = [{ provide: GATEWAY_OPTIONS, useValue: http }, HttpGateway];
  return {
    name: "http-gateway",
    ...options,
    providers: serveOrders ? [...providers, OrderRepository] : providers,
    controllers: serveOrders ? [OrdersController] : [],
  };
}

export function createGatewayApp(options: GatewayAppOptions): Promise<NatsApp> {
  return NatsApp.create(createGatewayOptions(options));
}
