/**
 * Push policy: what one alarm does for a push app, and what each webhook
 * answer means for its event. `decide` is pure and carries the whole policy
 * (docs/delivery.md, "Delivery guarantees"); `pushBatch` applies it to the due events.
 */
import type { WebhookConfig } from "../config.js";
import { logQueue } from "../log.js";
import type { WebhookOutcome } from "../webhook/send.js";
import { backoffMs } from "./backoff.js";
import type { QueueStore, StoredEvent } from "./store.js";

export const PUSH_LIMITS = {
  /** Push attempts started per alarm (a Free-plan invocation may make 50 subrequests). */
  batch: 40,
  /** Push attempts in flight at once (Workers allow 6 open connections per invocation). */
  concurrency: 6,
  /** No attempt starts that could run past this much of an alarm's wall time (the platform allows 15 minutes). */
  alarmBudgetMs: 10 * 60 * 1000,
} as const;

export type Decision =
  | { readonly kind: "delivered" }
  | { readonly kind: "retry"; readonly delayMs: number }
  /** `pause`: the webhook said 410 Gone; stop pushing until an operator resumes. */
  | { readonly kind: "dead"; readonly pause: boolean };

/** What an attempt's outcome means for its event; `attempts` counts this one. */
export function decide(
  outcome: WebhookOutcome,
  attempts: number,
  webhook: Pick<WebhookConfig, "maxAttempts" | "minBackoffMs" | "maxBackoffMs">,
  random: () => number = Math.random,
): Decision {
  if (outcome.ok) return { kind: "delivered" };
  if (outcome.status === 410) return { kind: "dead", pause: true };
  if (attempts >= webhook.maxAttempts) return { kind: "dead", pause: false };
  return { kind: "retry", delayMs: backoffMs(webhook, attempts, outcome.retryAfterSeconds, random) };
}

export interface PushContext {
  readonly app: string;
  readonly webhook: WebhookConfig;
  readonly store: QueueStore;
  /** Ids of the attempts in flight right now (for stats). */
  readonly inFlight: Set<string>;
  isPaused(): boolean;
  pause(): void;
  /** The batch's last failed attempt and when it failed (stats' `lastError`). */
  recordError(message: string, at: number): void;
  /** When the batch's last 2xx came back (stats' `lastDeliveredAt`). */
  recordDelivered(at: number): void;
  send(event: StoredEvent, attempt: number): Promise<WebhookOutcome>;
}

export interface BatchReport {
  delivered: number;
  retried: number;
  /** The events that became dead letters, with why; `paused` for a 410 (docs/operating.md, "Alerts"). */
  deadLetters: { readonly id: string; readonly error: string; readonly paused: boolean }[];
}

/**
 * Pushes the events due at `started`, oldest first, a few at a time. Each is
 * claimed in storage just before it leaves, so an object that dies mid-flight
 * leaves it due again after its timeout and backoff: at-least-once. The
 * delivered ones leave storage together at the end of the batch, in one
 * transaction (docs/architecture.md, "Storage schema": a batch reads ≤ 3 rows per event).
 */
export async function pushBatch(context: PushContext, due: readonly StoredEvent[], started: number): Promise<BatchReport> {
  const { store, webhook, inFlight } = context;
  const report: BatchReport = { delivered: 0, retried: 0, deadLetters: [] };
  const delivered: StoredEvent[] = [];
  let lastError: string | null = null;
  let lastErrorAt = 0;
  let lastDeliveredAt: number | null = null;
  let next = 0;
  const worker = async () => {
    while (next < due.length && !context.isPaused() && Date.now() - started + webhook.timeoutMs <= PUSH_LIMITS.alarmBudgetMs) {
      const event = due[next++]!;
      const attempt = event.attempts + 1;
      if (!store.claim(event, started, Date.now() + webhook.timeoutMs + backoffMs(webhook, attempt))) continue;
      inFlight.add(event.id);
      let outcome: WebhookOutcome;
      try {
        outcome = await context.send(event, attempt);
      } finally {
        inFlight.delete(event.id);
      }
      if (outcome.ok) {
        delivered.push(event);
        lastDeliveredAt = Date.now();
        continue;
      }
      const decision = decide(outcome, attempt, webhook);
      const now = Date.now();
      lastError = `attempt ${attempt}: ${outcome.error}`;
      lastErrorAt = now;
      const line = { app: context.app, eventId: event.id, status: outcome.status, attempts: attempt };
      if (decision.kind === "delivered") continue; // not reached: decide delivers only what succeeded
      if (decision.kind === "retry") {
        store.retry(event, now + decision.delayMs, lastError);
        report.retried++;
        logQueue({ ...line, outcome: "retry", detail: outcome.error, retryInMs: decision.delayMs });
      } else {
        store.kill(event, lastError, now);
        if (decision.pause) context.pause();
        report.deadLetters.push({ id: event.id, error: lastError, paused: decision.pause });
        logQueue({ ...line, outcome: "dead", detail: decision.pause ? "webhook answered 410 Gone; pushing paused" : outcome.error });
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(PUSH_LIMITS.concurrency, due.length) }, worker));
  } finally {
    store.pushed(delivered, Date.now());
    report.delivered = delivered.length;
    if (lastError !== null) context.recordError(lastError, lastErrorAt);
    if (lastDeliveredAt !== null) context.recordDelivered(lastDeliveredAt);
  }
  return report;
}
