/**
 * One attempt to send an alert on one channel: the WeCom group robot
 * (a plain JSON POST; WeCom answers 200 with `{"errcode":0}` on success)
 * or the signed webhook (webhook/send.ts, exactly as a push). Retrying is
 * the outbox's business. Errors never quote a URL: the robot's carries its key.
 */
import { readWithin } from "../lib/streams.js";
import { postWithin } from "../webhook/post.js";
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

/** POSTs a robot message (webhook/post.ts), reading at most 4 KiB of its answer within the same timer. */
async function postToRobot(robot: RobotConfig, body: string): Promise<SendOutcome> {
  const headers = { "content-type": "application/json", "user-agent": USER_AGENT };
  const answer = await postWithin(robot.url, headers, body, robot.timeoutMs, async (response) =>
    response.body ? readWithin(response.body, 4_096) : new Uint8Array(),
  );
  if ("error" in answer) return { ok: false, error: safeMessage(answer.error) };
  if (answer.response.status !== 200) return { ok: false, error: `robot answered ${answer.response.status}` };
  const errcode = errcodeOf(answer.value);
  if (errcode === 0) return { ok: true };
  return { ok: false, error: errcode === null ? "robot answered 200 without an errcode" : `robot answered errcode ${errcode}` };
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
