/**
 * One JSON line per request. Never a token, key, secret, signature or
 * decrypted body — unless WECOM_DEBUG is on, when the decrypted plaintext of
 * an accepted callback is added as `debugPlaintext`.
 */
export interface RequestLog {
  route: "callback" | "queue" | "bot" | "admin" | "health" | "file" | "suites" | "kf";
  method: string;
  app?: string;
  status: number;
  outcome: "ok" | "refused" | "failed";
  code?: string | number;
  /** Why, in more words than the wire answer gives; free of secrets. */
  detail?: string;
  eventId?: string;
  /** The rule that answered the callback, or why its reply was not sent. */
  reply?: string;
  durationMs: number;
  debugPlaintext?: string;
}

export function logRequest(line: RequestLog): void {
  const record = { msg: "wecom-edge", ...line };
  if (line.outcome === "ok") console.log(JSON.stringify(record));
  else console.warn(JSON.stringify(record));
}

/** One JSON line per push attempt that failed, one per batch that delivered anything, one per change of a destination's health, and one per pump that threw. */
export type QueueLog =
  | {
      app: string;
      destination: string;
      eventId: string;
      outcome: "retry" | "dead";
      status: number;
      attempts: number;
      detail?: string;
      retryInMs?: number;
    }
  | { app: string; destination: string; outcome: "pushed"; delivered: number; retried: number; dead: number }
  | { app: string; destination: string; outcome: "down" | "up" | "pump_failed" | "feed_failed"; detail: string };

export function logQueue(line: QueueLog): void {
  const record = { msg: "wecom-edge", route: "queue", ...line };
  if (line.outcome === "pushed" || line.outcome === "up") console.log(JSON.stringify(record));
  else console.warn(JSON.stringify(record));
}

/** One JSON line per sweep that changed anything, or could not run. */
export function logSweep(line: { synced: number; detail?: string }): void {
  console.log(JSON.stringify({ msg: "wecom-edge", route: "sweep", ...line }));
}

/**
 * One JSON line per alert sent, retried, given up or dropped, and per
 * WECOM_ALERTS found invalid (docs/operating.md, "Alerts"). Names the kind, app and
 * channel; never the robot's URL, a secret or the alert's text.
 */
export interface AlertLog {
  outcome: "sent" | "retry" | "gave_up" | "dropped" | "invalid_config" | "raise_failed";
  kind?: string;
  app?: string;
  channel?: string;
  attempts?: number;
  retryInMs?: number;
  /** Sends dropped at once. */
  count?: number;
  detail?: string;
}

export function logAlert(line: AlertLog): void {
  const record = { msg: "wecom-edge", route: "alerts", ...line };
  if (line.outcome === "sent") console.log(JSON.stringify(record));
  else console.warn(JSON.stringify(record));
}
