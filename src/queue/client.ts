/**
 * The request path's way into the queue: commit an accepted event to its
 * app's queue, and resolve once it is stored durably. A refusal throws a
 * WecomError with the answer WeCom should get (it retries a 503).
 */
import { fingerprintOf, type AppConfig, type Credential } from "../config.js";
import { WecomError } from "../errors.js";
import { serializeEvent, type WecomEvent } from "../wecom/event.js";
import { queueOf, type QueueEnv } from "./bindings.js";
import { encodeSettings } from "./settings.js";

/** Commits the event; for a resend of one already held, answers what its first copy was replied (if remembered). */
export async function commitEvent(
  env: Pick<QueueEnv, "QUEUE">,
  app: AppConfig,
  event: WecomEvent,
  credential?: Credential,
): Promise<{ readonly duplicate: boolean; readonly reply?: string }> {
  const receivedAt = Date.parse(event.receivedAt);
  const stream =
    event.streamId !== undefined && app.bot
      ? { id: event.streamId, placeholder: app.bot.placeholder, expiresAt: receivedAt + app.bot.streamTimeoutSeconds * 1000 }
      : undefined;
  const result = await queueOf(env, app.name).enqueue(app.name, encodeSettings(app), {
    id: event.id,
    body: serializeEvent(event),
    receivedAt,
    ...(stream ? { stream } : {}),
    ...(credential ? { credential: await fingerprintOf(credential) } : {}),
  });
  switch (result.status) {
    case "queued":
      return { duplicate: false };
    case "duplicate":
      return result.reply === undefined ? { duplicate: true } : { duplicate: true, reply: result.reply };
    case "full":
      throw new WecomError("queue_full", "the app's queue is full; WeCom will retry", result.reason);
    case "too_large":
      throw new WecomError("payload_too_large", "the event is too large to queue", result.reason);
  }
}

/** Remembers the reply endpoint's answer to an event ("" for none), so that WeCom's resend gets the same. */
export async function rememberReply(env: Pick<QueueEnv, "QUEUE">, app: AppConfig, id: string, reply: string): Promise<void> {
  await queueOf(env, app.name).rememberReply(id, reply);
}
