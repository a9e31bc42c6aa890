import { defineKv, defineStream } from "@natsflow/core";
import { z } from "zod";

/** Order events, kept a week; a retried publish of the same order within 2 minutes is stored once. */
export const ORDERS = defineStream({ name: "ORDERS", subjects: ["orders.events.>"], maxAge: "7d", duplicateWindow: "2m" });

export const Flags = z.object({ discountPercent: z.number().int().min(0).max(100) });
export type Flags = z.infer<typeof Flags>;

/** Feature flags, read by billing as they change. */
export const FLAGS = defineKv({ bucket: "billing_flags", history: 5, schema: Flags });

export const OrderPlaced = z.object({ id: z.string().min(1), customer: z.string().min(1), amountCents: z.number().int().positive() });
export type OrderPlaced = z.infer<typeof OrderPlaced>;
