/**
 * One signed POST of one event to an app's webhook. Retrying is the
 * caller's business; this only reports what happened.
 */
import type { WebhookConfig } from "../config.js";
import { signWebhook } from "./sign.js";

export type WebhookOutcome =
  | { readonly ok: true; readonly status: number }
  | {
      readonly ok: false;
      /** HTTP status, or 0 when no answer came (network error, timeout). */
      readonly status: number;
      /** Seconds asked for by a Retry-After header, if any. */
      readonly retryAfterSeconds?: number;
      readonly error: string;
    };

export const USER_AGENT = "wecom-edge/0.2 (+Standard Webhooks)";

/**
 * `attempt` (1 for the first delivery) goes out as `wecom-edge-attempt`, so
 * a receiver can see a redelivery without the event JSON changing.
 */
export async function sendWebhook(
  webhook: WebhookConfig,
  id: string,
  body: string,
  attempt: number,
  now: Date = new Date(),
): Promise<WebhookOutcome> {
  const timestamp = Math.floor(now.getTime() / 1000);
  const headers = new Headers(webhook.headers);
  headers.set("content-type", "application/json");
  headers.set("user-agent", USER_AGENT);
  headers.set("webhook-id", id);
  headers.set("webhook-timestamp", String(timestamp));
  headers.set("webhook-signature", await signWebhook(webhook.signingKey, id, timestamp, body));
  headers.set("wecom-edge-attempt", String(attempt));

  // A timer of our own, cleared as soon as the answer is in: a pending AbortSignal.timeout()
  // would keep the invocation (and a Durable Object being evicted) waiting for it.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("webhook timeout", "TimeoutError")), webhook.timeoutMs);
  let response: Response;
  try {
    response = await fetch(webhook.url, { method: "POST", headers, body, redirect: "manual", signal: controller.signal });
  } catch (error) {
    const error_ = controller.signal.aborted ? `no answer within ${webhook.timeoutMs} ms` : `request failed: ${describe(error)}`;
    return { ok: false, status: 0, error: error_ };
  } finally {
    clearTimeout(timer);
  }
  // The answer's body is never needed; release the connection.
  await response.body?.cancel().catch(() => {});
  if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
  const retryAfterSeconds = parseRetryAfter(response.headers.get("retry-after"), now);
  return {
    ok: false,
    status: response.status,
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    error: `webhook answered ${response.status}`,
  };
}

/** Retry-After as delay-seconds or an HTTP date; anything else is ignored. */
export function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d{1,9}$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now.getTime()) / 1000));
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 200) : "unknown error";
}
