// app.asyncapi(): an AsyncAPI 3.0 document from the decorator metadata, checked against the
// specification's own JSON Schema (@asyncapi/specs) and for what it says about each handler.
import "reflect-metadata";

import { createRequire } from "node:module";

import {
  Consume,
  Controller,
  defineKv,
  defineStream,
  NatsApp,
  Param,
  Payload,
  Publish,
  Subscribe,
  WatchKv,
  type StandardSchemaV1,
} from "@natsflow/core";
import { captureLogs, TestBroker } from "@natsflow/testing";
import { Ajv } from "ajv";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { z } from "zod";

const require = createRequire(import.meta.url);
const specs = require("@asyncapi/specs") as { schemas: Record<string, object> };

const NewOrder = z.object({ item: z.string().min(1), qty: z.number().int().positive() });
const Note = v.object({ text: v.string() });
/** A Standard Schema with no way to describe itself. */
const opaque: StandardSchemaV1 = { "~standard": { version: 1, vendor: "handmade", validate: (value) => ({ value }) } };

const ORDERS = defineStream({ name: "ORDERS", subjects: ["orders.events.>"] });
const FLAGS = defineKv({ bucket: "flags" });

@Controller("orders")
class Orders {
  @Subscribe("{id}.get", { queue: "orders", summary: "One order by id." })
  get(@Param("id") id: string) {
    return { id };
  }

  @Subscribe("create", { schema: NewOrder, queue: "orders" })
  @Publish("orders.events.created", { stream: ORDERS })
  create(@Payload() order: z.infer<typeof NewOrder>) {
    return order;
  }

  @Subscribe("note", { schema: Note, codec: "json" })
  note() {}

  @Subscribe("raw", { schema: opaque, codec: "bytes" })
  raw() {}
}

@Controller()
class Billing {
  @Consume("orders.events.created", { stream: ORDERS, durable: "billing", schema: NewOrder, deadLetter: "orders.dlq" })
  bill() {}

  @Consume("orders.events.created", { stream: ORDERS, durable: "ledger", schema: NewOrder, batch: { max: 100 } })
  ledger() {}

  @WatchKv(FLAGS, { keys: "features.>" })
  flag() {}
}

describe("app.asyncapi()", () => {
  it("is a valid AsyncAPI 3.0 document describing every handler", async () => {
    const logs = captureLogs("warn");
    const app = await NatsApp.create({
      transport: new TestBroker().transport,
      servers: "nats://user:pw@nats.example.com:4222",
      controllers: [Orders, Billing],
      service: { name: "orders", version: "1.2.3", description: "Orders and billing" },
      logger: logs.logger,
    });
    await app.subscribe("orders.ping", { name: "ping" }, () => "pong");
    const doc = await app.asyncapi();

    // The bundled specification brings its own draft-07 meta-schema.
    const ajv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false, logger: false });
    const valid = ajv.validate(specs.schemas["3.0.0"] as object, doc);
    expect(ajv.errors ?? []).toEqual([]);
    expect(valid).toBe(true);

    expect(doc.info).toEqual({ title: "orders", version: "1.2.3", description: "Orders and billing" });
    // Credentials in the server URL stay out.
    expect(doc.servers).toEqual({ nats1: { host: "nats.example.com:4222", protocol: "nats" } });
    const channels = doc.channels as Record<string, { address: string | null; parameters?: object }>;
    const operations = doc.operations as Record<string, Record<string, unknown>>;
    const messages = (doc.components as { messages: Record<string, { payload: unknown; contentType: string }> }).messages;

    expect(channels.orders_id_get).toMatchObject({ address: "orders.{id}.get", parameters: { id: {} } });
    expect(operations.Orders_get).toMatchObject({
      action: "receive",
      summary: "One order by id.",
      channel: { $ref: "#/channels/orders_id_get" },
      bindings: { nats: { queue: "orders" } },
      reply: { messages: [{ $ref: "#/channels/Orders_get_reply_reply/messages/Orders_get_reply" }, { $ref: "#/channels/Orders_get_reply_reply/messages/MicroError" }] },
    });
    expect(messages.Orders_create_message?.payload).toMatchObject({ type: "object", properties: { item: { type: "string", minLength: 1 }, qty: { type: "integer" } }, required: ["item", "qty"] });
    expect(messages.Orders_note_message?.payload).toMatchObject({ type: "object", properties: { text: { type: "string" } } });
    expect(messages.Orders_raw_message).toMatchObject({ contentType: "application/octet-stream", payload: {} });
    expect(logs.find(/Orders\.raw: its handmade schema cannot describe itself/)).toHaveLength(1);
    // @Publish to a stream: a send operation on the event's channel.
    expect(operations.Orders_create_publish).toMatchObject({ action: "send", "x-natsflow-jetstream": { stream: "ORDERS", pubAck: true } });
    expect(channels.orders_events_created?.address).toBe("orders.events.created");
    // The consumer reads the same channel; its JetStream settings are an extension.
    expect(operations.Billing_bill).toMatchObject({
      action: "receive",
      channel: { $ref: "#/channels/orders_events_created" },
      "x-natsflow-jetstream": { stream: "ORDERS", consumer: "pull", durable: "billing", ack: "after-success", deadLetter: "orders.dlq" },
    });
    expect(operations.Billing_bill).not.toHaveProperty("reply");
    // A batch consumer says so: up to max messages a call, one batch at a time (its default concurrency).
    expect(operations.Billing_ledger).toMatchObject({
      action: "receive",
      channel: { $ref: "#/channels/orders_events_created" },
      "x-natsflow-jetstream": { consumer: "pull", durable: "ledger", maxAckPending: 200, batch: { max: 100, expiresMs: 1000 } },
    });
    expect(operations.Billing_flag).toMatchObject({ "x-natsflow-watch": { kv: "flags", keys: "features.>" } });
    expect(channels.KV_flags_features?.address).toBe("$KV.flags.features.>");
    // Run-time subscriptions are handlers too.
    expect(operations.ping).toMatchObject({ action: "receive", channel: { $ref: "#/channels/orders_ping" } });
    await app.stop();
  });

  it("shows where a consumer starts, its filter subjects and whether it is ephemeral", async () => {
    @Controller()
    class Readers {
      @Consume("orders.events.created", { stream: ORDERS, durable: "latest", startAt: "last-per-subject", filterSubjects: ["orders.events.cancelled"] })
      latest() {}

      @Consume("orders.events.shipped", { stream: ORDERS, ephemeral: true, startAt: "new" })
      mine() {}
    }
    const app = await NatsApp.create({ transport: new TestBroker().transport, controllers: [Readers], logger: captureLogs("warn").logger });
    const operations = (await app.asyncapi()).operations as Record<string, Record<string, unknown>>;
    expect(operations.Readers_latest?.["x-natsflow-jetstream"]).toMatchObject({
      consumer: "pull",
      durable: "latest",
      startAt: "last-per-subject",
      filterSubjects: ["orders.events.created", "orders.events.cancelled"],
    });
    expect(operations.Readers_mine?.["x-natsflow-jetstream"]).toMatchObject({ consumer: "ephemeral", startAt: "new" });
    expect(operations.Readers_mine?.["x-natsflow-jetstream"]).not.toHaveProperty("durable");
    await app.stop();
  });
});
