import type { StandardSchemaV1 } from "@standard-schema/spec";

import { ValidationError, type ValidationIssue } from "../errors.js";

export type { StandardSchemaV1 } from "@standard-schema/spec";

export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  const std = (value as { "~standard"?: { version?: unknown; validate?: unknown } } | null)?.["~standard"];
  return typeof std === "object" && std !== null && std.version === 1 && typeof std.validate === "function";
}

function pathOf(issue: StandardSchemaV1.Issue): string {
  return (issue.path ?? []).map((p) => String(typeof p === "object" ? p.key : p)).join(".");
}

/** Validates with any Standard Schema library (zod, valibot, arktype, …) and returns its output value; `invalid` makes the error (default a `ValidationError`). */
export async function validate<S extends StandardSchemaV1>(
  schema: S,
  value: unknown,
  invalid: (issues: ValidationIssue[]) => Error = (issues) => new ValidationError(issues),
): Promise<StandardSchemaV1.InferOutput<S>> {
  let result = schema["~standard"].validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues) throw invalid(result.issues.map((i) => ({ path: pathOf(i), message: i.message })));
  return result.value as StandardSchemaV1.InferOutput<S>;
}
