/**
 * Push policy: what each webhook answer means for a delivery (`decide`, pure),
 * and one batch of pushes to one destination (`pushBatch`). A destination's
 * batches never wait for another's (./pusher.ts). docs/delivery.md,
 * "Delivery guarantees"; docs/routing.md, "Health" and "Rate limits".
 */
import type { WebhookConfig } from "../config.js";
import { logQueue } from "../log.js";
import { backoffMs } from "../queue/backoff.js";
import type { WebhookOutcome } from "../webhook/send.js";
import type { DeliveryBody } from "./body.js";
import type { RateWindow } from "./rate.js";
import type { DeliveryRow, DeliveryStore } from "./store.js";

export const PUSH_LIMITS = {
  /** Push attempts started per batch (a Free-plan invocation may make 50 subrequests). */
  batch: 40,
  /** Push attempts in flight at once per destination (Workers allow 6 open connections per invocation). */
  concurrency: 6,
  /** No attempt starts that could run past this much of a batch's wall time (an alarm may run 15 minutes). */
  alarmBudgetMs: 10 * 60 * 1000,
} as const;

export type Decision =
  | { readonly kind: "delivered" }
  | { readonly kind: "retry"; readonly delayMs: number }
  /** `pause`: the webhook said 410 Gone; stop pushing until an operator resumes. */
  | { readonly kind: "dead"; readonly pause: boolean };

/** What an attempt's outcome means for its delivery; `attempts` counts this one. */
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
  readonly destination: string;
  readonly webhook: WebhookConfig;
  readonly store: DeliveryStore;
  /** Ids of the attempts in flight right now (for stats). */
  readonly inFlight: Set<string>;
  /** Attempts in flight at once. */
  readonly concurrency: number;
  /** Starts per second, or null. */
  readonly rate: RateWindow | null;
  /** False while the destination is down: a failed probe spends no attempt and kills nothing. */
  readonly spend: boolean;
  isPaused(): boolean;
  /** False once the queue was dropped: what this batch read is gone, and nothing is written. */
  current(): boolean;
  pause(): void;
  /** The body this destination receives (its transform's), or why there is none. */
  body(row: DeliveryRow): DeliveryBody | Promise<DeliveryBody>;
  send(row: DeliveryRow, body: string, attempt: number): Promise<WebhookOutcome>;
  /** Waits `ms` (a rate limit's turn). */
  sleep(ms: number): Promise<void>;
}

export interface BatchReport {
  delivered: number;
  retried: number;
  /** Failed attempts, in the order they failed (the health count, stats' last error). */
  failures: { readonly seq: number; readonly error: string; readonly at: number }[];
  /** When the last 2xx came back. */
  lastDeliveredAt: number | null;
  /** The deliveries that became dead letters, with why; `paused` for a 410 (docs/operating.md, "Alerts"). */
  deadLetters: { readonly id: string; readonly error: string; readonly paused: boolean }[];
}

/**
 * Pushes `due`, oldest first, a few at a time. The caller has claimed each
 * delivery in memory in the turn it read them (Pusher.batch), so that no
 * pull leases one and no 微信客服 callback folds into one whose body this
 * batch holds; its row is left due as it was, so an object that dies
 * mid-flight finds it due at once when it wakes (at-least-once), and its
 * attempt is written with its outcome. Delivered ones leave storage
 * together at the end, in one transaction (docs/architecture.md, "Storage
 * schema").
 */
export async function pushBatch(context: PushContext, due: readonly DeliveryRow[], started: number): Promise<BatchReport> {
  const { store, webhook, inFlight, destination: name } = context;
  const report: BatchReport = { delivered: 0, retried: 0, failures: [], lastDeliveredAt: null, deadLetters: [] };
  const delivered: DeliveryRow[] = [];
  const kill = (row: DeliveryRow, error: string, pause: boolean, attempts: number, status: number) => {
    if (!context.current() || !store.kill(name, row, error, Date.now(), attempts)) return;
    if (pause) context.pause();
    report.deadLetters.push({ id: row.id, error, paused: pause });
    logQueue({ app: context.app, destination: name, eventId: row.id, outcome: "dead", status, attempts, detail: pause ? "webhook answered 410 Gone; pushing paused" : error });
  };
  let next = 0;
  const worker = async () => {
    while (next < due.length && !context.isPaused() && Date.now() - started + webhook.timeoutMs <= PUSH_LIMITS.alarmBudgetMs) {
      if (context.rate) {
        const wait = context.rate.wait(Date.now());
        if (wait > 0) {
          await context.sleep(wait);
          continue;
        }
        context.rate.take(Date.now());
      }
      const row = due[next++]!;
      const attempt = row.attempts + (context.spend ? 1 : 0);
      const made = context.body(row);
      const body = made instanceof Promise ? await made : made;
      // A transform took a turn: the queue may have been paused or dropped meanwhile.
      if (made instanceof Promise && context.isPaused()) break;
      if (!body.ok) {
        kill(row, body.error, false, row.attempts, 0);
        continue;
      }
      inFlight.add(row.id);
      let outcome: WebhookOutcome;
      try {
        outcome = await context.send(row, body.body, Math.max(attempt, 1));
      } finally {
        inFlight.delete(row.id);
      }
      const now = Date.now();
      if (outcome.ok) {
        delivered.push(row);
        report.lastDeliveredAt = now;
        continue;
      }
      const error = `attempt ${Math.max(attempt, 1)}: ${outcome.error}`;
      report.failures.push({ seq: row.seq, error, at: now });
      const line = { app: context.app, destination: name, eventId: row.id, status: outcome.status, attempts: attempt };
      const decision = decide(outcome, attempt, context.spend ? webhook : { ...webhook, maxAttempts: Number.POSITIVE_INFINITY });
      if (decision.kind === "delivered") continue; // not reached: decide delivers only what succeeded
      if (decision.kind === "retry") {
        if (context.current()) store.retry(name, row, attempt, context.spend ? now + decision.delayMs : now, error);
        report.retried++;
        logQueue({ ...line, outcome: "retry", detail: outcome.error, retryInMs: context.spend ? decision.delayMs : 0 });
      } else {
        kill(row, error, decision.pause, attempt, outcome.status);
      }
    }
  };
  // Every worker ends before the batch is recorded: one that throws must not leave the others' successes unrecorded.
  const ends = await Promise.allSettled(Array.from({ length: Math.min(context.concurrency, due.length) }, worker));
  report.delivered = context.current() ? store.delivered(name, delivered, Date.now()) : 0;
  const failed = ends.find((end): end is PromiseRejectedResult => end.status === "rejected");
  if (failed) throw failed.reason;
  return report;
}
