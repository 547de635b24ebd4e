/**
 * How an accepted event leaves the request path. The request path only knows
 * this interface: `handOver` resolves once the event is safely handed over
 * and throws a WecomError (with the answer WeCom should get) otherwise.
 *
 * The one implementation commits the event to its app's queue (a Durable
 * Object); the queue then pushes it to the webhook or keeps it for pull.
 */
import type { AppConfig } from "../config.js";
import { WecomError } from "../errors.js";
import { serializeEvent, type WecomEvent } from "../wecom/event.js";
import type { AppQueue } from "./app-queue.js";

export interface Delivery {
  handOver(event: WecomEvent): Promise<void>;
}

export interface QueueEnv {
  QUEUE: DurableObjectNamespace<AppQueue>;
}

export function queueOf(env: QueueEnv, app: string): DurableObjectStub<AppQueue> {
  return env.QUEUE.get(env.QUEUE.idFromName(app));
}

export function deliveryFor(app: AppConfig, env: QueueEnv): Delivery {
  return {
    async handOver(event) {
      const settings = app.webhook ? { mode: "push" as const, webhook: app.webhook } : { mode: "pull" as const };
      const result = await queueOf(env, app.name).enqueue(app.name, settings, {
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
    },
  };
}
