/**
 * Secret references: in wecom-edge.config.json a secret value is written as
 * `{"secret": "NAME"}`, naming a Worker secret of its own, so that the file
 * can sit in git (docs/configuration.md, "Secret references").
 */

/** A Worker secret's name as a reference gives it. */
export const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;

/** Names the gateway uses itself: a reference to one of them is a mistake. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  "WECOM_APPS",
  "WECOM_ALERTS",
  "WECOM_DEMO",
  "WECOM_DEBUG",
  "WECOM_MAX_SKEW_SECONDS",
  "WECOM_VERIFY_FILES",
  "ADMIN_TOKEN",
  "QUEUE",
  "REGISTRY",
  "ALERTS",
  "ASSETS",
]);

/** What a secret value is, for the field that takes it. */
export type SecretKind = "token" | "aesKey" | "whsec" | "bearer" | "header";

/**
 * Stands for a secret whose name is known to be set (on Cloudflare) while
 * its value is not at hand (`wecom-edge check-config --remote`): it
 * resolves to a placeholder of the field's shape, so that the rest of the
 * entry is still checked. No Worker secret can hold it (a NUL leads it).
 */
export const UNCHECKED_SECRET = "\u0000wecom-edge: set, value not checked";

const PLACEHOLDERS: Readonly<Record<SecretKind, string>> = {
  token: "t".repeat(32),
  aesKey: "A".repeat(43),
  whsec: `whsec_${"A".repeat(43)}=`,
  bearer: "b".repeat(32),
  header: "h",
};

export interface SecretReference {
  readonly secret: string;
}

/** `{"secret": …}` and nothing else: the shape of a reference (its name is checked where it is resolved). */
export function isReference(value: unknown): value is SecretReference {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === "secret";
}

/**
 * What a reference resolves to, or why it cannot: the problem names the
 * secret, never a value.
 */
export function resolveReference(
  reference: SecretReference,
  secrets: Readonly<Record<string, unknown>>,
  kind: SecretKind,
): { value: string } | { problem: string } {
  const name = reference.secret;
  if (typeof name !== "string" || !SECRET_NAME.test(name)) {
    return { problem: 'must name a secret: {"secret": "NAME"} with NAME of 1-64 capital letters, digits and _, starting with a letter' };
  }
  if (RESERVED_NAMES.has(name)) return { problem: `names ${name}, which wecom-edge uses itself: give the value a secret of its own` };
  const value = secrets[name];
  if (value === undefined || value === "") {
    return { problem: `names secret ${name}, which is not set (npx wrangler secret put ${name}; locally, a line in .dev.vars)` };
  }
  if (typeof value !== "string") return { problem: `names ${name}, which is a binding, not a secret` };
  return { value: value === UNCHECKED_SECRET ? PLACEHOLDERS[kind] : value };
}

/** Every name referenced anywhere in `value`, in the order met: a configuration's cache depends on their values. */
export function referencedNames(value: unknown, into: string[] = []): string[] {
  if (isReference(value)) {
    if (typeof value.secret === "string") into.push(value.secret);
  } else if (Array.isArray(value)) {
    for (const item of value) referencedNames(item, into);
  } else if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) referencedNames(item, into);
  }
  return into;
}
