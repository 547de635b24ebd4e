/**
 * What a queue needs to know of its app's configuration, as one JSON string.
 * The Worker encodes it once per isolate and hands it over with every call;
 * the queue compares strings, and parses and stores it only when it changes.
 * A queue remembers the last settings it was given, so that it keeps pushing
 * after its app has left WECOM_APPS (docs/operating.md, "Apps that are removed").
 */
import type { AppConfig, WebhookConfig } from "../config.js";
import { decodeBase64, encodeBase64 } from "../lib/bytes.js";

export type QueueSettings =
  | { readonly mode: "push"; readonly webhook: WebhookConfig }
  | { readonly mode: "pull"; readonly maxAttempts: number };

const encoded = new WeakMap<AppConfig, string>();

export function encodeSettings(app: AppConfig): string {
  let json = encoded.get(app);
  if (json === undefined) {
    json = app.webhook
      ? JSON.stringify({ mode: "push", webhook: { ...app.webhook, signingKeys: app.webhook.signingKeys.map(encodeBase64) } })
      : JSON.stringify({ mode: "pull", maxAttempts: app.pull!.maxAttempts });
    encoded.set(app, json);
  }
  return json;
}

export function decodeSettings(json: string): QueueSettings {
  type Stored = Omit<WebhookConfig, "signingKeys"> & { signingKeys?: string[]; signingKey?: string };
  const parsed = JSON.parse(json) as { mode: "push"; webhook: Stored } | { mode: "pull"; maxAttempts: number };
  if (parsed.mode === "pull") return parsed;
  // 0.1 remembered one `signingKey`; later versions a list.
  const { signingKey, signingKeys, ...webhook } = parsed.webhook;
  return { mode: "push", webhook: { ...webhook, signingKeys: (signingKeys ?? [signingKey!]).map(decodeBase64) } };
}
