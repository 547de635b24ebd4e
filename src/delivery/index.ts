/**
 * How an accepted event leaves the gateway. The request path only knows
 * this interface: `handOver` resolves once the event is safely handed over
 * and throws a WecomError (with the answer WeCom should get) otherwise.
 */
import type { AppConfig } from "../config.js";
import { WecomError } from "../errors.js";
import type { WecomEvent } from "../event.js";
import { sendWebhook } from "./webhook.js";

export interface Delivery {
  handOver(event: WecomEvent): Promise<void>;
}

/**
 * WeCom gives up on an answer after 5 s and retries; answering within this
 * budget leaves it time to receive the answer.
 */
export const WECOM_ANSWER_BUDGET_MS = 4_000;

export function deliveryFor(app: AppConfig, startedAt: number): Delivery {
  if (app.webhook) {
    const webhook = app.webhook;
    return {
      async handOver(event) {
        const remaining = WECOM_ANSWER_BUDGET_MS - (Date.now() - startedAt);
        const timeoutMs = Math.max(1, Math.min(webhook.timeoutMs, remaining));
        const outcome = await sendWebhook(webhook, event.id, JSON.stringify(event), timeoutMs);
        if (outcome.ok) return;
        throw outcome.timedOut
          ? new WecomError("delivery_timeout", "the webhook did not answer in time", outcome.error)
          : new WecomError("delivery_failed", "the webhook did not accept the event", outcome.error);
      },
    };
  }
  return {
    async handOver() {
      throw new WecomError("not_implemented", `app "${app.name}" uses pull, which this version does not serve yet`);
    },
  };
}
