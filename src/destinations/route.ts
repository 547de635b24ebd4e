/**
 * Which of an app's destinations an event goes to, and
 * under which order key: pure, over the configuration's compiled matches.
 * The queue commits one delivery per destination returned here; the admin
 * API's routes test (src/routes/routes-test.ts) shows the same answer.
 */
import type { DestinationConfig } from "../config/destinations.js";
import { textAt } from "../match/index.js";

/**
 * An order key is cut to this many UTF-16 code units: it is stored with each
 * delivery of an ordered destination and compared on every pull and push, so
 * a 1 MiB field must not become a 1 MiB key. Keys that agree on their first
 * 256 units share one order, which only ever serializes more, never less.
 */
export const MAX_ORDER_KEY_LENGTH = 256;

export interface Routed {
  readonly name: string;
  /** The order key: null when the destination is unordered; "" for `ordered: true`; else the key's value as text ("" when the path is missing or not a scalar). */
  readonly key: string | null;
}

/** The destinations whose match holds for `event` (the event's `event` object), in configuration order; one without a match takes every event. */
export function route(destinations: readonly DestinationConfig[], event: unknown): Routed[] {
  const routed: Routed[] = [];
  for (const destination of destinations) {
    if (destination.match === null || destination.match.test(event)) routed.push({ name: destination.name, key: orderKeyOf(destination, event) });
  }
  return routed;
}

/**
 * The order key of `event` at `destination`: null unordered, "" when the
 * whole destination is one order (`ordered: true`), else the text at the key's
 * path as a match compares it (a number or boolean as its text), "" when the
 * path is missing or holds no scalar (such events share one order), cut to
 * MAX_ORDER_KEY_LENGTH units (one fewer when the cut would split a surrogate pair).
 */
export function orderKeyOf(destination: DestinationConfig, event: unknown): string | null {
  const ordered = destination.ordered;
  if (ordered === null) return null;
  if (ordered.key === null) return "";
  const text = textAt(event, ordered.key) ?? "";
  if (text.length <= MAX_ORDER_KEY_LENGTH) return text;
  const last = text.charCodeAt(MAX_ORDER_KEY_LENGTH - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? MAX_ORDER_KEY_LENGTH - 1 : MAX_ORDER_KEY_LENGTH);
}
