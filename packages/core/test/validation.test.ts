import { validate, ValidationError } from "@natsflow/core";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { z } from "zod";

describe("validate", () => {
  it("gives each issue's path as a dotted string, whatever the library (docs/handlers.md, Validation)", async () => {
    const schemas = [
      z.object({ items: z.array(z.object({ qty: z.number() })) }),
      v.object({ items: v.array(v.object({ qty: v.number() })) }),
    ];
    for (const schema of schemas) {
      const error = await validate(schema, { items: [{ qty: "two" }] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues.map((i) => i.path)).toEqual(["items.0.qty"]);
    }
    const whole = await validate(z.string(), 1).catch((e: unknown) => e);
    expect((whole as ValidationError).issues.map((i) => i.path)).toEqual([""]);
  });
});
