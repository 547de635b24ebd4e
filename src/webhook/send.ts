/**
 * Signed POSTs to the intranet (Standard Webhooks): one event to an app's
 * webhook, or one event to its reply endpoint for an answer. Retrying is the
 * caller's business; these only report what happened.
 */
import type { EndpointConfig } from "../config.js";
import { readWithin } from "../lib/streams.js";
import { VERSION } from "../version.js";
import { postWithin, type PostOutcome } from "./post.js";
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

export const USER_AGENT = `wecom-edge/${VERSION} (+Standard Webhooks)`;

/**
 * Pushes one event. `attempt` (1 for the first delivery) goes out as
 * `wecom-edge-attempt`, so a receiver can see a redelivery without the event
 * JSON changing. A webhook that names a service binding is sent through
 * `binding`, the Worker's binding of that name (undefined: missing).
 */
export async function sendWebhook(
  webhook: EndpointConfig,
  id: string,
  body: string,
  attempt: number,
  now: Date = new Date(),
  binding?: Fetcher,
): Promise<WebhookOutcome> {
  if (webhook.service !== undefined && binding === undefined) {
    return { ok: false, status: 0, error: `service binding ${webhook.service} is missing from this Worker` };
  }
  const answer = await signedPost(
    webhook,
    id,
    body,
    { "wecom-edge-attempt": String(attempt) },
    now,
    async (response) => {
      // The answer's body is never needed; release the connection.
      await response.body?.cancel().catch(() => {});
    },
    binding,
  );
  if ("error" in answer) return { ok: false, status: 0, error: answer.error };
  const { response } = answer;
  if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
  const retryAfterSeconds = parseRetryAfter(response.headers.get("retry-after"), now);
  return {
    ok: false,
    status: response.status,
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    error: `webhook answered ${response.status}`,
  };
}

/** What a reply endpoint said: its status and, for a 200, its body (at most `maxBytes`). */
export type EndpointAnswer = { readonly status: number; readonly text: string | null } | { readonly error: string };

export async function askEndpoint(endpoint: EndpointConfig, id: string, body: string, maxBytes: number): Promise<EndpointAnswer> {
  const answer = await signedPost(endpoint, id, body, {}, new Date(), async (response) => {
    if (response.status === 200) return readAtMost(response, maxBytes);
    await response.body?.cancel().catch(() => {});
    return null;
  });
  return "error" in answer ? answer : { status: answer.response.status, text: answer.value };
}

/** One signed POST (post.ts), `consume` reading or releasing the answer's body within the same timer. */
async function signedPost<T>(
  endpoint: EndpointConfig,
  id: string,
  body: string,
  extra: Record<string, string>,
  now: Date,
  consume: (response: Response) => Promise<T>,
  via?: Fetcher,
): Promise<PostOutcome<T>> {
  const timestamp = Math.floor(now.getTime() / 1000);
  const headers = new Headers(endpoint.headers);
  headers.set("content-type", "application/json");
  headers.set("user-agent", USER_AGENT);
  headers.set("webhook-id", id);
  headers.set("webhook-timestamp", String(timestamp));
  headers.set("webhook-signature", await signWebhook(endpoint.signingKeys, id, timestamp, body));
  for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  return postWithin(endpoint.url, headers, body, endpoint.timeoutMs, consume, via);
}

/** The body as text, or null when it is longer than `maxBytes` or not UTF-8. */
async function readAtMost(response: Response, maxBytes: number): Promise<string | null> {
  const bytes = response.body ? await readWithin(response.body, maxBytes) : new Uint8Array();
  if (bytes === null) return null;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Retry-After as delay-seconds or an HTTP date; anything else is ignored. */
export function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d{1,9}$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now.getTime()) / 1000));
}
