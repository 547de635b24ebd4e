/**
 * The request path's way into the queue: commit an accepted event to its
 * app's queue, and resolve once it is stored durably. A refusal throws a
 * WecomError with the answer WeCom should get (it retries a 503).
 */
import type { AppConfig } from "../config.js";
import { WecomError } from "../errors.js";
import { serializeEvent, type WecomEvent } from "../wecom/event.js";
import { queueOf, type QueueEnv } from "./bindings.js";
import { encodeSettings } from "./settings.js";

export async function commitEvent(env: Pick<QueueEnv, "QUEUE">, app: AppConfig, event: WecomEvent): Promise<void> {
  const result = await queueOf(env, app.name).enqueue(app.name, encodeSettings(app), {
    id: event.id,
    body: serializeEvent(event),
    receivedAt: Date.parse(event.receivedAt),
  });
  switch (result.status) {
    case "queued":
    case "duplicate":
      return;
    case "full":
      throw new WecomError("queue_full", "the app's queue is full; WeCom will retry", result.reason);
    case "too_large":
      throw new WecomError("payload_too_large", "the event is too large to queue", result.reason);
  }
}
