// The orders example's subjects served with the raw `nats` client, for the start-up section: the same
// subscriptions (queue group "orders" for the requests; events.* without), the same answers in spirit
// (an in-memory repository, JSON in and out), no validation library.
import { connect, type Msg } from "nats";

interface Order {
  id: string;
  item: string;
  qty: number;
  customer: string;
  status: "open" | "cancelled";
}

const nc = await connect({ servers: process.env.NATS_URL });
const te = new TextEncoder();
const td = new TextDecoder();
const orders = new Map<string, Order>();
const counts = new Map<string, number>();
let seq = 0;
const reply = (m: Msg, body: unknown) => m.respond(te.encode(JSON.stringify(body)));
const byId = (m: Msg, fn: (o: Order) => unknown) => {
  const id = m.subject.split(".")[1] ?? "";
  const order = orders.get(id);
  reply(m, order ? fn(order) : { error: { code: 404, description: `order ${id} not found` } });
};
const queue = "orders";

nc.subscribe("orders.create", {
  queue,
  callback: (_e, m) => {
    const order: Order = { ...(JSON.parse(td.decode(m.data)) as Omit<Order, "id" | "status">), id: String(++seq), status: "open" };
    orders.set(order.id, order);
    nc.publish("orders.events.created", te.encode(JSON.stringify(order)));
    reply(m, order);
  },
});
nc.subscribe("orders.*.get", { queue, callback: (_e, m) => byId(m, (o) => o) });
nc.subscribe("orders.*.cancel", { queue, callback: (_e, m) => byId(m, (o) => Object.assign(o, { status: "cancelled" })) });
nc.subscribe("orders.list", { queue, callback: (_e, m) => reply(m, [...orders.values()]) });
nc.subscribe("orders.events.*", { callback: (_e, m) => void counts.set(m.subject.slice(14), (counts.get(m.subject.slice(14)) ?? 0) + 1) });
nc.subscribe("orders.stats", { callback: (_e, m) => reply(m, Object.fromEntries(counts)) });
process.once("SIGTERM", () => void nc.drain());
