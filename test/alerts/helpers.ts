/**
 * Helpers for the alert tests. WECOM_ALERTS is a secret of the whole
 * Worker, Durable Objects included, so a test sets it on the shared `env`
 * (each test file runs in an isolate of its own): the app queues and the
 * outbox see it, and so does the Worker through testEnv(), which copies
 * `env` when it is called. The outbox is one object, emptied
 * before each test.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import type { AlertOutbox } from "../../src/alerts/outbox.js";
import type { ReceivedRequest } from "../support/receiver.js";
import { received, receiverUrl } from "../support/wecom.js";

/** The robot's key: a secret, like the whole robot URL. */
export const ROBOT_KEY = "robotkey-7d1e9a2c-0b4f-4e55-9c1a-SECRET";
export const ALERT_SECRET = "whsec_YWxlcnQtc2VjcmV0LWZvci10ZXN0cy1vbmx5LTEyMw==";

const shared = env as unknown as Record<string, unknown>;

/** WECOM_ALERTS with a robot at `robot/{bucket}` and a webhook at `ok/{bucket}-hook`, unless `extra` says otherwise. */
export function alertsConfig(bucket: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    wecomRobot: { url: `${receiverUrl()}/robot/${bucket}?key=${ROBOT_KEY}` },
    webhook: { url: `${receiverUrl()}/ok/${bucket}-hook`, secret: ALERT_SECRET },
    ...extra,
  };
}

/** Sets WECOM_ALERTS for the Worker and its Durable Objects (undefined: unset). */
export function useAlerts(config: Record<string, unknown> | string | undefined): void {
  if (config === undefined) delete shared.WECOM_ALERTS;
  else shared.WECOM_ALERTS = typeof config === "string" ? config : JSON.stringify(config);
}

export function outbox(): DurableObjectStub<AlertOutbox> {
  return (env as unknown as { ALERTS: DurableObjectNamespace<AlertOutbox> }).ALERTS.getByName("alerts");
}

export interface OutboxRowView {
  channel: string;
  kind: string;
  app: string;
  attempts: number;
  due_at: number;
  last_error: string | null;
}

export function outboxRows(): Promise<OutboxRowView[]> {
  return runInDurableObject(outbox(), (_, state) =>
    state.storage.sql
      .exec("SELECT channel, kind, app, attempts, due_at, last_error FROM outbox ORDER BY seq")
      .toArray() as unknown as OutboxRowView[],
  );
}

/** Empties the outbox: its sends, its rate limits and its alarm. */
export async function resetOutbox(): Promise<void> {
  await drainOutbox();
  await runInDurableObject(outbox(), async (_, state) => {
    state.storage.sql.exec("DELETE FROM outbox");
    state.storage.sql.exec("DELETE FROM rate");
    await state.storage.deleteAlarm();
  });
}

/** Makes every pending send due now, as if its backoff had run out. */
export function makeSendsDue(): Promise<void> {
  return runInDurableObject(outbox(), (_, state) => {
    state.storage.sql.exec("UPDATE outbox SET due_at = 0");
  });
}

/** Moves the last alert of every kind and app back by `ms`, as if that much time had passed. */
export function rewindRateLimits(ms: number): Promise<void> {
  return runInDurableObject(outbox(), (_, state) => {
    state.storage.sql.exec("UPDATE rate SET sent_at = sent_at - ?", ms);
  });
}

/**
 * Runs the outbox's alarm until no send is due and none is in flight.
 * Workerd may also fire the alarm by itself; either way the outcome is the same.
 */
export async function drainOutbox(giveUpAfterMs = 20_000): Promise<void> {
  const stub = outbox();
  const giveUpAt = Date.now() + giveUpAfterMs;
  while (Date.now() < giveUpAt) {
    const { due, sending } = await runInDurableObject(stub, (instance, state) => ({
      due: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox WHERE due_at <= ?", Date.now()).one().n,
      sending: (instance as unknown as { sending: number }).sending,
    }));
    if (due === 0 && sending === 0) return;
    if (!(await runDurableObjectAlarm(stub))) await scheduler.wait(10);
  }
  throw new Error("the alert outbox did not drain");
}

/** What the robot at `robot/{bucket}` got: each message's markdown content. */
export async function robotMessages(bucket: string): Promise<string[]> {
  return (await received(bucket)).map((request) => {
    const body = JSON.parse(request.body) as { msgtype: string; markdown: { content: string } };
    if (body.msgtype !== "markdown") throw new Error(`unexpected msgtype ${body.msgtype}`);
    return body.markdown.content;
  });
}

export interface AlertBody {
  type: string;
  kind: string;
  app: string;
  at: string;
  summary: string;
  hint: string;
  details: Record<string, unknown>;
  suppressed: number;
}

/** What the webhook at `ok/{bucket}-hook` got, each body checked against its Standard Webhooks signature. */
export async function webhookAlerts(bucket: string, path = `${bucket}-hook`): Promise<AlertBody[]> {
  return (await received(path)).map((request: ReceivedRequest) => new Webhook(ALERT_SECRET).verify(request.body, request.headers) as AlertBody);
}
