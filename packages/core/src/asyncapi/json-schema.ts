import type { StandardSchemaV1 } from "../validation/standard-schema.js";

type JsonSchema = Record<string, unknown>;

/** Standard JSON Schema (zod 4, arktype, …): a schema that can describe itself. */
interface SelfDescribing {
  readonly "~standard": { readonly jsonSchema?: { input(options: { target: string }): JsonSchema } };
}

// A variable, not a literal: the converter is an optional peer the compiler need not find.
const VALIBOT_CONVERTER = "@valibot/to-json-schema";

/**
 * A payload's JSON Schema (draft-07, what AsyncAPI's default schema format builds on) from its
 * Standard Schema: the schema's own converter when it has one (zod 4), valibot's through
 * `@valibot/to-json-schema` when installed. Anything else — or no schema — is described as any
 * value; `warn` says why when there was a schema.
 */
export async function toJsonSchema(schema: StandardSchemaV1 | undefined, where: string, warn: (message: string) => void): Promise<JsonSchema> {
  if (schema === undefined) return {};
  const own = (schema as unknown as SelfDescribing)["~standard"].jsonSchema;
  try {
    if (own) return withoutDialect(own.input({ target: "draft-07" }));
    const vendor = schema["~standard"].vendor;
    if (vendor === "valibot") {
      const converter = (await import(VALIBOT_CONVERTER).catch(() => undefined)) as { toJsonSchema(s: unknown): JsonSchema } | undefined;
      if (converter) return withoutDialect(converter.toJsonSchema(schema));
      warn(`${where}: install @valibot/to-json-schema to describe its valibot schema; described as any value`);
      return {};
    }
    warn(`${where}: its ${vendor} schema cannot describe itself as JSON Schema; described as any value`);
  } catch (error) {
    warn(`${where}: its schema could not be converted to JSON Schema (${(error as Error).message}); described as any value`);
  }
  return {};
}

/** The document says which schema format it uses once; a `$schema` in each payload would only repeat it. */
function withoutDialect(schema: JsonSchema): JsonSchema {
  const { $schema: _, ...rest } = schema;
  return rest;
}
