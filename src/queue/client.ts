/**
 * The request path's way into the queue: commit an accepted event to its
 * app's queue, and resolve once it is stored durably. A refusal throws a
 * WecomError with the answer WeCom should get (it retries a 503).
 */
import { fingerprintOf, type AppConfig, type Credential } from "../config.js";
import { route, type Routed } from "../destinations/route.js";
import { WecomError } from "../errors.js";
import { serializeEvent, type WecomEvent } from "../wecom/event.js";
import { queueOf, registryOf, type QueueEnv } from "./bindings.js";
import { encodeSettings } from "./settings.js";
import type { KfCallback } from "./kf.js";
import { queueName, shardOf, shardOfQueue } from "./shards.js";
import type { SuiteTicket } from "./tickets.js";

export interface Committed {
  readonly duplicate: boolean;
  /** What the reply endpoint answered the first copy of a resend ("" for nothing), if remembered. */
  readonly reply?: string;
  /** The destinations the event matched, in configuration order (none: unrouted, not stored). */
  readonly routed: readonly string[];
  /** A 微信客服 callback folded into held event `id`, which stands for `count` callbacks (docs/kf.md). */
  readonly coalesced?: { readonly id: string; readonly count: number };
  /** The app's shard it went to (docs/sharding.md); 0 for an app of one queue. */
  readonly shard: number;
}

/**
 * Routes the event (docs/routing.md) and commits it with one delivery per
 * destination it matched; an event that matches none is counted and
 * remembered for dedup, not stored.
 */
export async function commitEvent(
  env: Pick<QueueEnv, "QUEUE">,
  app: AppConfig,
  event: WecomEvent,
  credential?: Credential,
  extra: { readonly ticket?: SuiteTicket; readonly kf?: KfCallback; readonly shard?: number } = {},
): Promise<Committed> {
  const shard = extra.shard ?? shardOf(app, event.event);
  const routes: Routed[] = route(app.destinations, event.event);
  const receivedAt = Date.parse(event.receivedAt);
  const stream =
    event.streamId !== undefined && app.bot
      ? { id: event.streamId, placeholder: app.bot.placeholder, expiresAt: receivedAt + app.bot.streamTimeoutSeconds * 1000 }
      : undefined;
  const queue = queueName(app.name, shard);
  const result = await queueOf(env, queue).enqueue(queue, encodeSettings(app), {
    id: event.id,
    body: serializeEvent(event),
    receivedAt,
    routes,
    kind: routes.length === 0 ? kindOf(event.event) : "",
    ...(stream ? { stream } : {}),
    ...(credential ? { credential: await fingerprintOf(credential) } : {}),
    ...(extra.ticket ? { ticket: extra.ticket } : {}),
    ...(extra.kf ? { kf: extra.kf } : {}),
  });
  const routed = routes.map((routed) => routed.name);
  switch (result.status) {
    case "queued":
    case "unrouted":
      return { duplicate: false, routed, shard };
    case "duplicate":
      return result.reply === undefined ? { duplicate: true, routed, shard } : { duplicate: true, reply: result.reply, routed, shard };
    case "coalesced":
      return { duplicate: false, routed, coalesced: { id: result.id, count: result.count }, shard };
    case "full":
      throw new WecomError("queue_full", "the app's queue is full; WeCom will retry", result.reason);
    case "too_large":
      throw new WecomError("payload_too_large", "the event is too large to queue", result.reason);
  }
}

/**
 * What an unrouted event is counted as: its MsgType, and for an event its
 * Event and ChangeType (`event/change_contact/update_tag`); a JSON
 * callback's `msgtype`, a suite's `InfoType`. At most 100 characters.
 */
export function kindOf(event: unknown): string {
  const field = (name: string): string | null => {
    const value = (event as Record<string, unknown> | null)?.[name];
    return typeof value === "string" && value !== "" ? value : null;
  };
  const type = field("MsgType") ?? field("msgtype");
  // An AI bot's event names its type inside `event` ({"msgtype": "event", "event": {"eventtype": …}}).
  const inner = (event as { event?: { eventtype?: unknown } } | null)?.event?.eventtype;
  const botEvent = typeof inner === "string" && inner !== "" ? inner : null;
  const kind =
    type === "event"
      ? ["event", field("Event") ?? botEvent, field("ChangeType")].filter((part) => part !== null).join("/")
      : (type ?? (field("InfoType") === null ? "unknown" : `info/${field("InfoType")}`));
  return kind.slice(0, 100);
}

/** Per isolate, the shards past each app's count that still hold a queue, and when the registry was asked. */
const draining = new Map<string, { at: number; shards: readonly number[] }>();
const DRAINING_TTL_MS = 60_000;

/**
 * The shards a reader of `app` serves (docs/sharding.md): 0 to shards - 1,
 * and any shard past them whose queue the registry still knows, since
 * lowering the count leaves their events to drain. The registry is asked
 * at most once a minute per isolate and app.
 */
export async function shardsOf(env: Pick<QueueEnv, "REGISTRY">, app: Pick<AppConfig, "name" | "shards">, now = Date.now()): Promise<number[]> {
  const own = Array.from({ length: app.shards }, (_, i) => i);
  let known = draining.get(app.name);
  if (known === undefined || now - known.at > DRAINING_TTL_MS) {
    const names = await registryOf(env).list();
    const shards = names.flatMap((name) => {
      const of = shardOfQueue(name);
      return of !== null && of.app === app.name && of.shard >= app.shards ? [of.shard] : [];
    });
    known = { at: now, shards };
    draining.set(app.name, known);
  }
  return [...own, ...known.shards.filter((shard) => shard >= app.shards)];
}

/** Forgets what shardsOf learnt (tests that change an app's shards). */
export function forgetDrainingShards(): void {
  draining.clear();
}

/** Which copy of event `id` asks the reply endpoint: the first; a concurrent copy gets its answer (docs/replies.md, "Reply endpoint"). */
export function claimReply(env: Pick<QueueEnv, "QUEUE">, app: AppConfig, id: string, shard: number) {
  return queueOf(env, queueName(app.name, shard)).claimReply(id);
}

/** Remembers the reply endpoint's answer to an event ("" for none; undefined: none usable), so that WeCom's resend gets the same. */
export async function rememberReply(env: Pick<QueueEnv, "QUEUE">, app: AppConfig, id: string, shard: number, reply: string | undefined): Promise<void> {
  await queueOf(env, queueName(app.name, shard)).rememberReply(id, reply);
}
