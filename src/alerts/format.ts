/**
 * How an alert is sent (docs/operating.md, "Alerts"): as a WeCom group robot's
 * markdown message, and as the signed webhook's JSON body. Pure: an alert
 * in, a request body out.
 */
import { encodeUtf8 } from "../lib/bytes.js";
import type { Alert } from "./alerts.js";
import type { AlertKind } from "./config.js";

/** A robot's markdown content may hold at most this many bytes of UTF-8. */
export const ROBOT_MAX_BYTES = 4096;

const TITLES: Record<AlertKind, string> = {
  dead_letter: "dead letters",
  oldest_event: "events waiting too long",
  push_paused: "pushing paused",
  refusal_burst: "burst of refused callbacks",
  invalid_config: "invalid configuration",
  destination_down: "destination down",
  destination_up: "destination up again",
  suite_ticket_stale: "suite_ticket stale",
};

/** When it was raised, and how many of its kind and app were held back since the last one sent. */
export interface Occurrence {
  readonly at: number;
  readonly suppressed: number;
}

/** `{"msgtype":"markdown","markdown":{"content":…}}`, the content cut to ROBOT_MAX_BYTES on a character boundary. */
export function robotBody(alert: Alert, occurrence: Occurrence): string {
  const lines = [
    `**wecom-edge: ${TITLES[alert.kind]}** · app \`${alert.app}\`${alert.destination === undefined ? "" : ` → \`${alert.destination}\``}`,
    `> ${alert.summary}`,
    ...Object.entries(alert.details).map(([key, value]) => `> ${key}: <font color="comment">${show(value)}</font>`),
    `**What to do:** ${alert.hint}`,
    `<font color="comment">${new Date(occurrence.at).toISOString()}${sinceLast(occurrence.suppressed)}</font>`,
  ];
  return JSON.stringify({ msgtype: "markdown", markdown: { content: truncateUtf8(lines.join("\n"), ROBOT_MAX_BYTES) } });
}

/** The signed webhook's body: `{"type":"wecom-edge.alert","kind","app","at","summary","hint","details","suppressed"}`. */
export function webhookBody(alert: Alert, occurrence: Occurrence): string {
  return JSON.stringify({
    type: "wecom-edge.alert",
    kind: alert.kind,
    app: alert.app,
    ...(alert.destination === undefined ? {} : { destination: alert.destination }),
    at: new Date(occurrence.at).toISOString(),
    summary: alert.summary,
    hint: alert.hint,
    details: alert.details,
    suppressed: occurrence.suppressed,
  });
}

function show(value: Alert["details"][string]): string {
  if (Array.isArray(value)) return value.join(", ");
  return value === null ? "none" : String(value);
}

function sinceLast(suppressed: number): string {
  return suppressed === 0 ? "" : ` · ${suppressed} more since the last alert of this kind`;
}

/** `text` cut to at most `maxBytes` of UTF-8, never inside a character, with `…` when cut. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = encodeUtf8(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes - 3; // room for "…"
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return `${new TextDecoder().decode(bytes.subarray(0, end))}…`;
}
