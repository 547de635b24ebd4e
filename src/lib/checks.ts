/**
 * The shape checks every layer needs, in one place. Each caller turns a
 * failed check into its own error (a config path, a 400, a WeCom code).
 */

/** A JSON object: not null, not an array. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A whole number in [min, max]. */
export function isWholeNumberIn(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

/** Whether `value` can be fetched through: a service binding (a Fetcher), as opposed to a variable of the same name. */
export function isFetcher(value: unknown): value is Fetcher {
  return typeof value === "object" && value !== null && typeof (value as { fetch?: unknown }).fetch === "function";
}
