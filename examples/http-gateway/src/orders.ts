import { z } from "zod";

export const NewOrder = z.object({
  item: z.string().min(1),
  qty: z.number().int().positive(),
});
export type NewOrder = z.infer<typeof NewOrder>;

export interface Order extends NewOrder {
  id: string;
}

/** Stand-in for a database (so its methods are async): one instance per app, injected by type. */
export class OrderRepository {
  private readonly orders = new Map<string, Order>();
  private seq = 0;

  async create(input: NewOrder): Promise<Order> {
    const order: Order = { ...input, id: String(++this.seq) };
    this.orders.set(order.id, order);
    return order;
  }

  async find(id: string): Promise<Order | undefined> {
    return this.orders.get(id);
  }
}
