import { InvalidGrantError } from "../errors.js";
import { validateGrant, type Grant } from "./grant.js";

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

function fillList(list: string[] | undefined, values: TemplateValues, where: string): string[] | undefined {
  return list?.map((s) => fill(s, values, where));
}

/**
 * A `Grant` with `{placeholders}` in its subjects, name and tags — `users.{sub}.>`, `{account}.events`
 * — rendered per client. Values must be single subject tokens, so a claim like `a.>` can never widen
 * a permission. The rendered grant is validated before it is returned.
 */
export function grantTemplate(template: Grant) {
  return {
    render(values: TemplateValues, nowMs = Date.now()): Grant {
      const p = template.permissions;
      const grant: Grant = {
        ...template,
        account: fill(template.account, values, "account"),
        ...(template.name !== undefined ? { name: fill(template.name, values, "name") } : {}),
        ...(template.tags ? { tags: template.tags.map((t) => fill(t, values, "tags")) } : {}),
        ...(p
          ? {
              permissions: {
                ...(p.pub ? { pub: { allow: fillList(p.pub.allow, values, "pub.allow"), deny: fillList(p.pub.deny, values, "pub.deny") } } : {}),
                ...(p.sub ? { sub: { allow: fillList(p.sub.allow, values, "sub.allow"), deny: fillList(p.sub.deny, values, "sub.deny") } } : {}),
                ...(p.resp ? { resp: p.resp } : {}),
              },
            }
          : {}),
      };
      for (const dir of ["pub", "sub"] as const) {
        const perm = grant.permissions?.[dir];
        if (perm?.allow === undefined) delete perm?.allow;
        if (perm?.deny === undefined) delete perm?.deny;
      }
      validateGrant(grant, nowMs);
      return grant;
    },
  };
}
