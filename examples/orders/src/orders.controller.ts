import { Controller, HandlerError, Headers, Param, Payload, Publish, Subscribe, type MessageHeaders } from "@natsflow/core";

import { NewOrder, OrderRepository, type Order } from "./orders.js";

/** orders.create, orders.{id}.get, orders.{id}.cancel, orders.list: plain JSON any NATS client can call. */
@Controller("orders")
export class OrdersController {
  constructor(private readonly repo: OrderRepository) {}

  @Subscribe("create", { schema: NewOrder, queue: "orders" })
  @Publish("orders.events.created")
  create(@Payload() input: NewOrder, @Headers() headers: MessageHeaders | undefined): Order & { requestId?: string } {
    const order = this.repo.create(input);
    const requestId = headers?.get("Request-Id");
    return requestId ? { ...order, requestId } : order;
  }

  @Subscribe("{id}.get", { queue: "orders" })
  get(@Param("id") id: string): Order {
    const order = this.repo.find(id);
    if (!order) throw new HandlerError(`order ${id} not found`, 404);
    return order;
  }

  @Subscribe("{id}.cancel", { queue: "orders" })
  @Publish("orders.events.cancelled")
  cancel(@Param("id") id: string): Order {
    const order = this.repo.cancel(id);
    if (!order) throw new HandlerError(`order ${id} not found`, 404);
    return order;
  }

  @Subscribe("list", { queue: "orders" })
  list(): Order[] {
    return this.repo.list();
  }
}
