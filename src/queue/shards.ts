/**
 * Queues beyond one Durable Object (docs/sharding.md): an app with
 * `"shards": N` spreads its events over N queue objects by a key in the
 * event, so that every event of one key lands in one queue, where dedup,
 * per-key order and ordered destinations hold as before. Shard 0 is the
 * app's own queue, named as the app; shard i is the queue `{app}.{i}` (an app
 * name has no dot), reachable on its own through the admin API.
 */
import { MAX_SHARDS, type AppConfig } from "../config.js";
import { textAt } from "../match/index.js";

/** The queue of shard `shard` of app `app`. */
export function queueName(app: string, shard: number): string {
  return shard === 0 ? app : `${app}.${shard}`;
}

/** The app and shard a queue name stands for (`hr.3` → hr, 3; `hr` and `hr.0` → hr, 0); null for no shard's name. */
export function shardOfQueue(name: string): { app: string; shard: number } | null {
  const match = /^([a-z0-9_-]{1,64})(?:\.(0|[1-9][0-9]?))?$/.exec(name);
  if (!match) return null;
  const shard = match[2] === undefined ? 0 : Number(match[2]);
  return shard < MAX_SHARDS ? { app: match[1]!, shard } : null;
}

/** The paths read for the shard key when the app names none: the corp for a suite, the sender otherwise. */
export function defaultShardKeys(app: Pick<AppConfig, "suite" | "bot">): readonly string[] {
  if (app.suite) return ["AuthCorpId", "ToUserName"];
  if (app.bot) return ["from.userid"];
  return ["FromUserName"];
}

/**
 * The shard of an event (the event JSON's `event` object): its key's text,
 * hashed (FNV-1a, 32 bits) modulo the app's shards. A missing key is "". A
 * suite_ticket and a 微信客服 callback always go to shard 0, where the
 * ticket and the 客服 accounts are kept (docs/sharding.md, "Placement").
 */
export function shardOf(app: Pick<AppConfig, "shards" | "shardKey" | "suite" | "bot">, event: unknown): number {
  if (app.shards <= 1) return 0;
  const fields = event as Record<string, unknown> | null;
  if (fields?.InfoType === "suite_ticket" || fields?.Event === "kf_msg_or_event") return 0;
  const paths = app.shardKey === null ? defaultShardKeys(app) : [app.shardKey];
  let key = "";
  for (const path of paths) {
    const text = textAt(event, path);
    if (text !== null && text !== "") {
      key = text;
      break;
    }
  }
  return fnv1a(key) % app.shards;
}

/** The shard an AI-bot stream lives in, from its id (src/wecom/bot.ts, streamIdOf): 0 unless it ends in .{i} with i below the app's shards. */
export function shardOfStream(streamId: string, shards: number): number {
  const match = /\.([1-9][0-9]?)$/.exec(streamId);
  return match && Number(match[1]) < shards ? Number(match[1]) : 0;
}

/** FNV-1a over the UTF-16 code units of `text`: fast, spread well enough, and the same in every isolate. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
