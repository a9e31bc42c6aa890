import { InvalidGrantError } from "../errors.js";
import { checkGrantShape, isPlainObject, type Grant } from "./grant.js";

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;
// A value becomes part of a subject: one token, nothing that could widen a permission.
const SAFE_TOKEN = /^[^\s.*>{}]+$/;

export type TemplateValues = Readonly<Record<string, string | number | undefined>>;

function fill(text: string, values: TemplateValues, where: string): string {
  return text.replace(PLACEHOLDER, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new InvalidGrantError(`invalid grant: ${where} uses {${key}}, which has no value`);
    const s = String(value);
    if (!SAFE_TOKEN.test(s)) throw new InvalidGrantError(`invalid grant: the value of {${key}} cannot be used in a subject (it contains '.', '*', '>', braces or spaces)`);
    return s;
  });
}

/** Fills the strings of `value`'s subject lists; anything else is left as it is, for validation to name. */
function fillLists(value: unknown, values: TemplateValues, where: string): unknown {
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, list]) => [key, Array.isArray(list) ? list.map((s: unknown, i) => (typeof s === "string" ? fill(s, values, `${where}.${key}[${i}]`) : s)) : list]),
  );
}

function fillPermissions(permissions: unknown, values: TemplateValues): unknown {
  if (!isPlainObject(permissions)) return permissions;
  return Object.fromEntries(
    Object.entries(permissions).map(([dir, d]) => [dir, dir === "pub" || dir === "sub" ? fillLists(d, values, `permissions.${dir}`) : d]),
  );
}

/**
 * A `Grant` with `{placeholders}` in its subjects, name and tags — `users.{sub}.>`, `{account}.events`
 * — rendered per client. Values must be single subject tokens, so a claim like `a.>` can never widen
 * a permission. The rendered grant is validated (all but its signer, which the issue step knows)
 * before it is returned.
 */
export function grantTemplate(template: Grant) {
  return {
    render(values: TemplateValues, nowMs = Date.now()): Grant {
      const t = template as Partial<Record<keyof Grant, unknown>>;
      const text = (v: unknown, where: string) => (typeof v === "string" ? fill(v, values, where) : v);
      const grant = {
        ...template,
        account: text(t.account, "account"),
        ...(t.name !== undefined ? { name: text(t.name, "name") } : {}),
        ...(Array.isArray(t.tags) ? { tags: t.tags.map((tag) => text(tag, "tags")) } : {}),
        ...(t.permissions !== undefined ? { permissions: fillPermissions(t.permissions, values) } : {}),
      };
      checkGrantShape(grant, nowMs);
      return grant as Grant;
    },
  };
}
