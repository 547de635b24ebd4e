/**
 * A sharded app's stats as one (docs/sharding.md, "Seeing a sharded app"):
 * the stats of its shards' queues, added up. Counts add; ages and times take
 * the oldest or latest; a destination is down or paused when any shard says
 * so; `shards` names the queues, each of which the admin API shows alone.
 */
import type { DestinationStats, QueueStats } from "../queue/app-queue.js";

const later = (a: string | null, b: string | null): string | null => (b !== null && (a === null || Date.parse(b) > Date.parse(a)) ? b : a);
const older = (a: number | null, b: number | null): number | null => (b !== null && (a === null || b > a) ? b : a);
/** The latest of the shards' last errors. */
const latestError = (list: readonly ({ at: string; message: string } | null)[]) =>
  list.reduce<{ at: string; message: string } | null>((a, b) => (b !== null && (a === null || Date.parse(b.at) > Date.parse(a.at)) ? b : a), null);
const sum = <K extends string>(list: readonly Record<K, number>[], key: K): number => list.reduce((n, x) => n + x[key], 0);

function addCounts(into: Record<string, number>, from: Record<string, number>): Record<string, number> {
  for (const [key, n] of Object.entries(from)) into[key] = (into[key] ?? 0) + n;
  return into;
}

function mergeDestination(list: readonly DestinationStats[]): DestinationStats {
  const first = list[0]!;
  const down = list.filter((d) => d.health === "down");
  return {
    ...first,
    configured: list.some((d) => d.configured),
    paused: list.some((d) => d.paused),
    health: down.length > 0 ? "down" : "up",
    downSince: down.map((d) => d.downSince).reduce<string | null>((a, b) => (b !== null && (a === null || Date.parse(b) < Date.parse(a)) ? b : a), null),
    depth: sum(list, "depth"),
    queued: sum(list, "queued"),
    leased: sum(list, "leased"),
    retrying: sum(list, "retrying"),
    delivered: sum(list, "delivered"),
    dead: sum(list, "dead"),
    oldestAgeSeconds: list.map((d) => d.oldestAgeSeconds).reduce(older, null),
    lastError: latestError(list.map((d) => d.lastError)),
    lastDeliveredAt: list.map((d) => d.lastDeliveredAt).reduce(later, null),
  };
}

/** The stats of `queues` (shard 0 first, the app's own queue) as the app's. */
export function mergeStats(app: string, queues: readonly string[], list: readonly QueueStats[]): QueueStats & { shards: readonly string[] } {
  const first = list[0]!;
  const names = [...new Set(list.flatMap((s) => s.destinations.map((d) => d.name)))];
  const destinations = names.map((name) => mergeDestination(list.flatMap((s) => s.destinations.filter((d) => d.name === name))));
  const credentials: QueueStats["credentials"] = {};
  for (const stats of list) {
    for (const [id, c] of Object.entries(stats.credentials)) {
      const had = credentials[id];
      credentials[id] = { callbacks: (had?.callbacks ?? 0) + c.callbacks, lastAt: Math.max(had?.lastAt ?? 0, c.lastAt) };
    }
  }
  return {
    ...first,
    app,
    configured: list.some((s) => s.configured),
    paused: list.every((s) => s.paused),
    depth: sum(list, "depth"),
    events: sum(list, "events"),
    bytes: sum(list, "bytes"),
    streamBytes: sum(list, "streamBytes"),
    queued: sum(list, "queued"),
    leased: sum(list, "leased"),
    retrying: sum(list, "retrying"),
    delivered: sum(list, "delivered"),
    dead: sum(list, "dead"),
    oldestAgeSeconds: list.map((s) => s.oldestAgeSeconds).reduce(older, null),
    refreshes: sum(list, "refreshes"),
    credentials,
    lastError: latestError(list.map((s) => s.lastError)),
    lastDeliveredAt: list.map((s) => s.lastDeliveredAt).reduce(later, null),
    destinations,
    unrouted: list.reduce((into, s) => addCounts(into, s.unrouted), {} as Record<string, number>),
    kfCoalesced: sum(list, "kfCoalesced"),
    shards: queues,
  };
}
