import { Controller, Payload, Publish, Subscribe } from "@natsflow/core";

import { ORDERS, OrderPlaced } from "./streams.js";

/** Takes orders by request/reply and stores each as an event before answering. */
@Controller("orders")
export class OrdersController {
  @Subscribe("place", { schema: OrderPlaced })
  @Publish("orders.events.placed", { stream: ORDERS, msgId: (order: OrderPlaced) => order.id })
  place(@Payload() order: OrderPlaced): OrderPlaced {
    return order;
  }
}
