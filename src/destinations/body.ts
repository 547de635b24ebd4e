/**
 * What a destination receives for one delivery: the event JSON as stored,
 * or what its transform makes of it; or why it gets nothing and the
 * delivery dies instead (an event past maxAgeHours, a transform that failed).
 * docs/routing.md, "Transformations" and "Health".
 */
import type { DestinationSettings } from "../queue/settings.js";
import type { DeliveryRow } from "./store.js";
import { applyTransform } from "./transform.js";

export type DeliveryBody = { readonly ok: true; readonly body: string } | { readonly ok: false; readonly error: string };

/** Answers at once, without a Promise, when there is no transform to run: a push claims its delivery in the same turn it reads it. */
export function deliveryBody(
  settings: Pick<DestinationSettings, "maxAgeHours" | "transform">,
  row: Pick<DeliveryRow, "body" | "receivedAt">,
  now: number,
): DeliveryBody | Promise<DeliveryBody> {
  if (now - row.receivedAt > settings.maxAgeHours * 3_600_000) {
    return { ok: false, error: `undelivered for more than maxAgeHours (${settings.maxAgeHours} h)` };
  }
  if (settings.transform === null) return { ok: true, body: row.body };
  return applyTransform(settings.transform, row.body);
}
