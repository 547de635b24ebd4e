/**
 * One attempt to send an alert on one channel: the WeCom group robot
 * (a plain JSON POST; WeCom answers 200 with `{"errcode":0}` on success)
 * or the signed webhook (webhook/send.ts, exactly as a push). Retrying is
 * the outbox's business. Errors never quote a URL: the robot's carries its key.
 */
import { readWithin } from "../lib/streams.js";
import { sendWebhook, USER_AGENT } from "../webhook/send.js";
import { safeMessage } from "./alerts.js";
import type { AlertsConfig, RobotConfig } from "./config.js";
import type { OutboxRow } from "./store.js";

export type SendOutcome = { readonly ok: true } | { readonly ok: false; readonly error: string };

/** Whether `row`'s channel is still configured; a send for one that was removed is dropped. */
export function hasChannel(config: AlertsConfig, row: OutboxRow): boolean {
  return row.channel === "wecomRobot" ? config.wecomRobot !== undefined : config.webhook !== undefined;
}

/** The channel's timeout, for claiming an attempt. */
export function timeoutOf(config: AlertsConfig, row: OutboxRow): number {
  return (row.channel === "wecomRobot" ? config.wecomRobot?.timeoutMs : config.webhook?.timeoutMs) ?? 0;
}

/** Sends `row` on its channel (see hasChannel), `attempt` 1 for the first. */
export async function sendAlert(config: AlertsConfig, row: OutboxRow, attempt: number): Promise<SendOutcome> {
  if (row.channel === "wecomRobot") return postToRobot(config.wecomRobot!, row.body);
  const outcome = await sendWebhook(config.webhook!, row.id, row.body, attempt);
  return outcome.ok ? { ok: true } : { ok: false, error: safeMessage(outcome.error) };
}

/**
 * POSTs a robot message, with a timer of its own cleared as soon as the
 * answer is read (a pending AbortSignal.timeout() would hold the Durable
 * Object's eviction, as webhook/send.ts explains).
 */
async function postToRobot(robot: RobotConfig, body: string): Promise<SendOutcome> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("robot timeout", "TimeoutError")), robot.timeoutMs);
  try {
    const response = await fetch(robot.url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": USER_AGENT },
      body,
      redirect: "manual",
      signal: controller.signal,
    });
    const bytes = response.body ? await readWithin(response.body, 4_096) : new Uint8Array();
    if (response.status !== 200) return { ok: false, error: `robot answered ${response.status}` };
    const errcode = errcodeOf(bytes);
    if (errcode === 0) return { ok: true };
    return { ok: false, error: errcode === null ? "robot answered 200 without an errcode" : `robot answered errcode ${errcode}` };
  } catch (error) {
    if (controller.signal.aborted) return { ok: false, error: `no answer within ${robot.timeoutMs} ms` };
    return { ok: false, error: safeMessage(`request failed: ${error instanceof Error ? `${error.name}: ${error.message}` : "unknown error"}`) };
  } finally {
    clearTimeout(timer);
  }
}

/** `errcode` of WeCom's JSON answer; its `errmsg` is not kept (it may echo the request). */
function errcodeOf(bytes: Uint8Array | null): number | null {
  if (bytes === null) return null;
  try {
    const answer = JSON.parse(new TextDecoder().decode(bytes)) as { errcode?: unknown };
    return typeof answer.errcode === "number" ? answer.errcode : null;
  } catch {
    return null;
  }
}
