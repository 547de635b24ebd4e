/**
 * AlertOutbox: one Durable Object (docs/operating.md, "Alerts") that rate-limits
 * alerts per kind and app, keeps each send still to make, and owns the
 * single alarm that makes them, with retries. A thin shell over store.ts
 * (the tables), format.ts (the bodies) and send.ts (one attempt).
 */
import { DurableObject } from "cloudflare:workers";
import { toHex } from "../lib/bytes.js";
import { logAlert } from "../log.js";
import { alertSubject, type Alert } from "./alerts.js";
import { currentAlerts, isOn, type AlertsConfig, type AlertsEnv } from "./config.js";
import { robotBody, webhookBody } from "./format.js";
import { hasChannel, sendAlert, timeoutOf } from "./send.js";
import { OutboxStore, type OutboxRow } from "./store.js";

export const ALERT_LIMITS = {
  /** Attempts per send before it is given up (logged). */
  maxAttempts: 10,
  /** Retry backoff: doubling from the first, capped. */
  minBackoffMs: 10_000,
  maxBackoffMs: 15 * 60 * 1000,
  /** Sends made per alarm; the next alarm follows at once. */
  batch: 20,
  concurrency: 4,
  /** Sends held at most; beyond, a new alert is dropped (logged). */
  maxPending: 1_000,
} as const;

export type RaiseResult = "queued" | "suppressed" | "off" | "full";

/** The backoff before attempt `attempts + 1`. */
export function alertBackoffMs(attempts: number): number {
  return Math.min(ALERT_LIMITS.maxBackoffMs, ALERT_LIMITS.minBackoffMs * 2 ** Math.min(20, Math.max(0, attempts - 1)));
}

export class AlertOutbox extends DurableObject<AlertsEnv> {
  private readonly store: OutboxStore;
  /** Attempts in flight right now. */
  private sending = 0;

  constructor(ctx: DurableObjectState, env: AlertsEnv) {
    super(ctx, env);
    this.store = new OutboxStore(ctx.storage);
  }

  /**
   * Takes an alert: held back (and counted) when one of its kind and app
   * went out less than minIntervalMinutes ago; otherwise one send per
   * channel, made by the alarm. Never waits on the network.
   * `suppressedBefore`: alerts of this kind and app its raiser held back
   * without asking (AlertGate in raise.ts), counted here as if they had come.
   */
  async raise(alert: Alert, suppressedBefore = 0): Promise<RaiseResult> {
    const config = currentAlerts(this.env);
    if (!config || !isOn(config, alert.kind)) return "off";
    const now = Date.now();
    if (this.store.pending() >= ALERT_LIMITS.maxPending) {
      logAlert({ outcome: "dropped", kind: alert.kind, app: alert.app, count: 1, detail: `the outbox holds ${ALERT_LIMITS.maxPending} sends` });
      return "full";
    }
    const heldBefore = Number.isSafeInteger(suppressedBefore) && suppressedBefore > 0 ? suppressedBefore : 0;
    const suppressed = this.store.admit(alert.kind, alertSubject(alert), now, config.minIntervalMinutes * 60_000, heldBefore);
    if (suppressed === null) return "suppressed";
    const occurrence = { at: now, suppressed };
    const id = `alert_${toHex(crypto.getRandomValues(new Uint8Array(16)))}`;
    if (config.wecomRobot) this.store.add(id, "wecomRobot", alert.kind, alert.app, robotBody(alert, occurrence), now);
    if (config.webhook) this.store.add(id, "webhook", alert.kind, alert.app, webhookBody(alert, occurrence), now);
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > now) await this.ctx.storage.setAlarm(now);
    return "queued";
  }

  override async alarm(): Promise<void> {
    const config = currentAlerts(this.env);
    if (!config) {
      const count = this.store.clear();
      if (count > 0) logAlert({ outcome: "dropped", count, detail: "WECOM_ALERTS is unset or invalid" });
      return;
    }
    const due = this.store.due(Date.now(), ALERT_LIMITS.batch);
    let next = 0;
    const worker = async () => {
      while (next < due.length) await this.attempt(config, due[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(ALERT_LIMITS.concurrency, due.length) }, worker));
    const nextDue = this.store.nextDue();
    if (nextDue !== null) await this.ctx.storage.setAlarm(Math.max(nextDue, Date.now()));
  }

  /** One attempt of one send: claimed first, so that a restart mid-flight makes it due again, not lost. */
  private async attempt(config: AlertsConfig, row: OutboxRow): Promise<void> {
    const line = { kind: row.kind, app: row.app, channel: row.channel };
    if (!hasChannel(config, row)) {
      this.store.remove(row.seq);
      logAlert({ ...line, outcome: "dropped", count: 1, detail: "its channel is no longer in WECOM_ALERTS" });
      return;
    }
    if (row.attempts >= ALERT_LIMITS.maxAttempts) {
      // Its last attempt was claimed, and this object died before it ended: no attempt beyond the cap.
      this.store.remove(row.seq);
      logAlert({ ...line, outcome: "gave_up", attempts: row.attempts, detail: "the last attempt did not finish" });
      return;
    }
    const attempt = row.attempts + 1;
    const now = Date.now();
    if (!this.store.claim(row, now, now + timeoutOf(config, row) + alertBackoffMs(attempt))) return;
    let outcome;
    this.sending++;
    try {
      outcome = await sendAlert(config, row, attempt);
    } finally {
      this.sending--;
    }
    if (outcome.ok) {
      this.store.remove(row.seq);
      logAlert({ ...line, outcome: "sent", attempts: attempt });
    } else if (attempt >= ALERT_LIMITS.maxAttempts) {
      this.store.remove(row.seq);
      logAlert({ ...line, outcome: "gave_up", attempts: attempt, detail: outcome.error });
    } else {
      const retryInMs = alertBackoffMs(attempt);
      this.store.retry(row.seq, Date.now() + retryInMs, outcome.error);
      logAlert({ ...line, outcome: "retry", attempts: attempt, retryInMs, detail: outcome.error });
    }
  }
}
