import { definePublisher } from "@natsflow/core";
import { z } from "zod";

export const NewOrder = z.object({
  item: z.string().min(1),
  qty: z.number().int().positive(),
  customer: z.string().min(1),
});
export type NewOrder = z.infer<typeof NewOrder>;

export const Order = NewOrder.extend({
  id: z.string(),
  status: z.enum(["open", "cancelled"]),
});
export type Order = z.infer<typeof Order>;

/** A domain error: the orders router maps it to a 404 reply (see app.ts). */
export class OrderNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`order ${id} not found`);
    this.name = "OrderNotFoundError";
  }
}

/** The "created" event: validated before it is sent, listed in the AsyncAPI document. */
export const ORDER_CREATED = definePublisher("orders.events.created", {
  schema: Order,
  description: "An order was created: the order as stored.",
});

/** Stand-in for a database: one instance per app, injected by type. */
export class OrderRepository {
  private readonly orders = new Map<string, Order>();
  private seq = 0;

  create(input: NewOrder): Order {
    const order: Order = { ...input, id: String(++this.seq), status: "open" };
    this.orders.set(order.id, order);
    return order;
  }

  /** Throws `OrderNotFoundError` for an unknown id. */
  get(id: string): Order {
    const order = this.orders.get(id);
    if (!order) throw new OrderNotFoundError(id);
    return order;
  }

  cancel(id: string): Order {
    const order = this.get(id);
    order.status = "cancelled";
    return order;
  }

  list(): Order[] {
    return [...this.orders.values()];
  }
}
