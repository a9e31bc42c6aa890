import { Controller, Headers, InjectPublisher, Param, Payload, Publish, Subscribe, type MessageHeaders, type Publisher } from "@natsflow/core";

import { NewOrder, ORDER_CREATED, OrderRepository, type Order } from "./orders.js";

/** create, {id}.get, {id}.cancel, list under the orders router's prefix: plain JSON any NATS client can call. */
@Controller()
export class OrdersController {
  constructor(
    private readonly repo: OrderRepository,
    @InjectPublisher(ORDER_CREATED) private readonly created: Publisher<Order>,
  ) {}

  @Subscribe("create", { schema: NewOrder, queue: "orders" })
  async create(@Payload() input: NewOrder, @Headers() headers: MessageHeaders | undefined): Promise<Order & { requestId?: string }> {
    const order = this.repo.create(input);
    await this.created.publish(order);
    const requestId = headers?.get("Request-Id");
    return requestId ? { ...order, requestId } : order;
  }

  // An unknown id throws OrderNotFoundError, which the router answers with a 404.
  @Subscribe("{id}.get", { queue: "orders" })
  get(@Param("id") id: string): Order {
    return this.repo.get(id);
  }

  @Subscribe("{id}.cancel", { queue: "orders" })
  @Publish("orders.events.cancelled")
  cancel(@Param("id") id: string): Order {
    return this.repo.cancel(id);
  }

  @Subscribe("list", { queue: "orders" })
  list(): Order[] {
    return this.repo.list();
  }
}
