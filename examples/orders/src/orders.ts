import { z } from "zod";

export const NewOrder = z.object({
  item: z.string().min(1),
  qty: z.number().int().positive(),
  customer: z.string().min(1),
});
export type NewOrder = z.infer<typeof NewOrder>;

export interface Order extends NewOrder {
  id: string;
  status: "open" | "cancelled";
}

/** Stand-in for a database: one instance per app, injected by type. */
export class OrderRepository {
  private readonly orders = new Map<string, Order>();
  private seq = 0;

  create(input: NewOrder): Order {
    const order: Order = { ...input, id: String(++this.seq), status: "open" };
    this.orders.set(order.id, order);
    return order;
  }

  find(id: string): Order | undefined {
    return this.orders.get(id);
  }

  cancel(id: string): Order | undefined {
    const order = this.orders.get(id);
    if (order) order.status = "cancelled";
    return order;
  }

  list(): Order[] {
    return [...this.orders.values()];
  }
}
