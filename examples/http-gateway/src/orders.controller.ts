import { Controller, HandlerError, Param, Payload, Subscribe } from "@natsflow/core";

import { NewOrder, OrderRepository, type Order } from "./orders.js";

/** The NATS side: `orders.create` and `orders.{id}.get`, plain JSON any NATS client can call too. */
@Controller("orders")
export class OrdersController {
  constructor(private readonly repo: OrderRepository) {}

  // An invalid body is answered 400 with the schema's issues before this runs.
  @Subscribe("create", { schema: NewOrder, queue: "orders" })
  create(@Payload() input: NewOrder): Promise<Order> {
    return this.repo.create(input);
  }

  @Subscribe("{id}.get", { queue: "orders" })
  async get(@Param("id") id: string): Promise<Order> {
    const order = await this.repo.find(id);
    if (!order) throw new HandlerError(`order ${id} not found`, 404);
    return order;
  }
}
