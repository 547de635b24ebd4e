/**
 * The pull API, for pull destinations: intranet consumers, which may only
 * make outbound connections, lease events and ack or release them.
 * docs/delivery.md, "Pulling from the queue"; docs/routing.md.
 *
 *   POST /queue/{app}[/{destination}]/pull  {"max", "leaseSeconds", "waitSeconds"} → {"events", "ids", "lease", "attempts"}
 *   POST /queue/{app}[/{destination}]/ack   {"ids", "lease"}                 → {"acked", "notAcked"}
 *   POST /queue/{app}[/{destination}]/nack  {"ids", "lease", "delaySeconds"} → {"released", "notReleased"}
 *
 *   GET  /queue/{app}[/{destination}]/ws    WebSocket feed (docs/feed.md), ?leaseSeconds=, ?shard= (docs/sharding.md)
 *   GET  /queue/{app}[/{destination}]/shards  → {"shards": [0, 1, …]}: the app's shards, for a socket on each
 *
 * Without a destination, the `default` one (an app's top-level `pull`).
 * Each destination has its own token, which opens no other. An unknown app
 * or destination, one that pushes and a wrong token get the same 401: the
 * API does not tell names apart before the caller is authenticated.
 */
import { loadConfig, type AppConfig } from "../config.js";
import { DEFAULT_DESTINATION } from "../config/destinations.js";
import { WecomError } from "../errors.js";
import { MAX_SOCKETS } from "../feed/feed.js";
import { FEED_HEADERS, type AppQueue, type Pulled } from "../queue/app-queue.js";
import { queueOf } from "../queue/bindings.js";
import { shardsOf } from "../queue/client.js";
import { queueName } from "../queue/shards.js";
import { encodeSettings } from "../queue/settings.js";
import { refuseBearer, requireBearer } from "./auth.js";
import { idsField, intField, jsonResponse, jsonTextResponse, readJsonObject } from "./http.js";
import type { Route, RouteContext } from "./table.js";

export const PULL_LIMITS = {
  max: { fallback: 10, min: 1, max: 100 },
  leaseSeconds: { fallback: 60, min: 1, max: 43_200 },
  delaySeconds: { fallback: 0, min: 0, max: 43_200 },
  /** Long-poll: how long a pull with nothing to lease waits (docs/feed.md, "Long-poll"). */
  waitSeconds: { fallback: 0, min: 0, max: 25 },
  ids: 1_000,
} as const;

/** The app and destination, once the caller has proved it holds the destination's pull token. */
async function authorise({ request, env, params, log }: RouteContext): Promise<{ app: AppConfig; destination: string }> {
  const config = loadConfig(env);
  const app = config.apps.get(params[0]!);
  const name = params[1] || DEFAULT_DESTINATION;
  const destination = app?.destinations.find((d) => d.name === name);
  if (!app || !destination?.pull) {
    log.detail = config.invalidApps.has(params[0]!)
      ? "app is misconfigured"
      : !app
        ? "no such app"
        : destination
          ? `destination "${name}" pushes; it has no pull queue`
          : `no destination named "${name.slice(0, 64)}"`;
    return refuseBearer(request);
  }
  await requireBearer(request, destination.pull.token);
  return { app, destination: name };
}

async function pull(context: RouteContext): Promise<Response> {
  const { app, destination } = await authorise(context);
  const body = await readJsonObject(context.request);
  const { max, leaseSeconds, waitSeconds } = PULL_LIMITS;
  const wait = intField(body, "waitSeconds", waitSeconds.fallback, waitSeconds.min, waitSeconds.max);
  const ask: PullAsk = {
    settings: encodeSettings(app),
    destination,
    max: intField(body, "max", max.fallback, max.min, max.max),
    leaseSeconds: intField(body, "leaseSeconds", leaseSeconds.fallback, leaseSeconds.min, leaseSeconds.max),
  };
  const shards = await shardsOf(context.env, app);
  // A long-poll whose client goes away stops waiting, so that it leases nothing to nobody.
  const waits: Waiting = { id: undefined, shards: [] };
  const onAbort = () => {
    if (waits.id === undefined) return;
    for (const shard of waits.shards) context.ctx.waitUntil(queueOf(context.env, queueName(app.name, shard)).cancelWait(waits.id!));
  };
  context.request.signal.addEventListener("abort", onAbort, { once: true });
  let pulled: Pulled;
  try {
    if (shards.length === 1) {
      if (wait > 0) Object.assign(waits, { id: crypto.randomUUID(), shards: [0] });
      if (context.request.signal.aborted && waits.id !== undefined) onAbort();
      pulled = await queueOf(context.env, app.name).pull(app.name, ask.settings, destination, ask.max, ask.leaseSeconds, wait, waits.id);
    } else {
      pulled = await pullShards(context, app.name, shards, ask, wait, waits);
    }
  } finally {
    context.request.signal.removeEventListener("abort", onAbort);
  }
  // Each event is stored as the JSON text that a push would carry: splice, don't re-encode.
  const attempts = Object.fromEntries(pulled.ids.map((id, i) => [id, pulled.attempts[i]]));
  // `ids` beside `events`: a transformed item need not carry the event's id (docs/routing.md, "Transformations").
  return jsonTextResponse(
    `{"events":[${pulled.events.join(",")}],"ids":${JSON.stringify(pulled.ids)},"lease":${JSON.stringify(pulled.lease)},"attempts":${JSON.stringify(attempts)}}`,
  );
}

/** The wait under way, for a client that goes away: its id, and the shards waiting under it. */
interface Waiting {
  id: string | undefined;
  shards: readonly number[];
}

interface PullAsk {
  readonly settings: string;
  readonly destination: string;
  readonly max: number;
  readonly leaseSeconds: number;
}

/**
 * A pull of a sharded app (docs/sharding.md, "Reading a sharded app"): the
 * shards in turn from a random one, until one leases something; its lease
 * names the shard (`<lease>@<shard>`). With nothing anywhere and a wait,
 * every shard is asked to say when it has something (leasing nothing), and
 * the first to say so is pulled; until the wait is over.
 */
async function pullShards(context: RouteContext, app: string, shards: readonly number[], ask: PullAsk, wait: number, waits: Waiting): Promise<Pulled> {
  const deadline = Date.now() + wait * 1000;
  const start = Math.floor(Math.random() * shards.length);
  const order = [...shards.slice(start), ...shards.slice(0, start)];
  const from = async (shard: number): Promise<Pulled> => {
    const queue = queueName(app, shard);
    const pulled = await queueOf(context.env, queue).pull(queue, ask.settings, ask.destination, ask.max, ask.leaseSeconds, 0);
    return pulled.lease === null || shard === 0 ? pulled : { ...pulled, lease: `${pulled.lease}@${shard}` };
  };
  for (const shard of order) {
    const pulled = await from(shard);
    if (pulled.ids.length > 0) return pulled;
  }
  const empty: Pulled = { events: [], attempts: [], ids: [], lease: null };
  for (let left = deadline - Date.now(); left > 0 && !context.request.signal.aborted; left = deadline - Date.now()) {
    // A new id each round: a wait cancelled in a shard stays cancelled there.
    const waitId = crypto.randomUUID();
    Object.assign(waits, { id: waitId, shards: order });
    const seconds = Math.ceil(left / 1000);
    const asked = order.map(async (shard) => {
      const queue = queueName(app, shard);
      return (await queueOf(context.env, queue).ready(queue, ask.settings, ask.destination, seconds, waitId)) ? shard : null;
    });
    const first = await Promise.race([...asked.map((p) => p.then((shard) => (shard === null ? new Promise<never>(() => {}) : shard))), Promise.all(asked).then(() => null)]);
    // The others stop waiting: their answers are not needed.
    for (const shard of order) if (shard !== first) context.ctx.waitUntil(queueOf(context.env, queueName(app, shard)).cancelWait(waitId));
    Object.assign(waits, { id: undefined, shards: [] });
    if (first === null) return empty;
    const pulled = await from(first);
    if (pulled.ids.length > 0) return pulled;
  }
  return empty;
}

/**
 * The queue a lease was given by, and the lease as that queue knows it:
 * `<lease>@<shard>` from a sharded pull, else shard 0. Null for a shard the
 * app has not: no lease of it holds anything, and no queue is made for it.
 */
async function leaseQueue(context: RouteContext, app: AppConfig, lease: string): Promise<{ queue: DurableObjectStub<AppQueue>; lease: string } | null> {
  const match = /^(.+)@([1-9][0-9]?)$/.exec(lease);
  const shard = match ? Number(match[2]) : 0;
  if (!(await shardsOf(context.env, app)).includes(shard)) return null;
  return { queue: queueOf(context.env, queueName(app.name, shard)), lease: match ? match[1]! : lease };
}

/** Each id once, none held: the answer for a lease that holds nothing. */
const unknownIds = (ids: readonly string[]) => [...new Set(ids)].map((id) => ({ id, reason: "unknown" as const }));

async function ack(context: RouteContext): Promise<Response> {
  const { app, destination } = await authorise(context);
  const body = await readJsonObject(context.request);
  const ids = idsField(body, "ids", PULL_LIMITS.ids);
  const lease = leaseField(body, false);
  if (lease !== null) {
    const held = await leaseQueue(context, app, lease);
    return jsonResponse(held === null ? { acked: 0, notAcked: unknownIds(ids) } : await held.queue.ack(destination, ids, held.lease));
  }
  // The unfenced ack of 0.1: any live delivery, in whichever shard holds it.
  const shards = await shardsOf(context.env, app);
  const answers = await Promise.all(shards.map((shard) => queueOf(context.env, queueName(app.name, shard)).ack(destination, ids, null)));
  const acked = answers.reduce((sum, answer) => sum + answer.acked, 0);
  const everywhere = answers.map((answer) => new Set(answer.notAcked.map((n) => n.id)));
  return jsonResponse({ acked, notAcked: answers[0]!.notAcked.filter((n) => everywhere.every((ids) => ids.has(n.id))) });
}

async function nack(context: RouteContext): Promise<Response> {
  const { app, destination } = await authorise(context);
  const body = await readJsonObject(context.request);
  const ids = idsField(body, "ids", PULL_LIMITS.ids);
  const lease = leaseField(body, true)!;
  const { delaySeconds } = PULL_LIMITS;
  const delay = intField(body, "delaySeconds", delaySeconds.fallback, delaySeconds.min, delaySeconds.max);
  const held = await leaseQueue(context, app, lease);
  return jsonResponse(held === null ? { released: 0, notReleased: unknownIds(ids) } : await held.queue.nack(destination, ids, held.lease, delay));
}

/** Opens a WebSocket feed on a pull destination: the queue answers 101 with the socket, or 429 when MAX_SOCKETS are open. */
async function feed(context: RouteContext): Promise<Response> {
  const { app, destination } = await authorise(context);
  if (context.request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    throw new WecomError("upgrade_required", "the feed is a WebSocket: send Upgrade: websocket");
  }
  const { leaseSeconds } = PULL_LIMITS;
  const given = context.url.searchParams.get("leaseSeconds");
  const seconds = given === null ? leaseSeconds.fallback : /^[0-9]{1,5}$/.test(given) ? Number(given) : NaN;
  if (!(seconds >= leaseSeconds.min && seconds <= leaseSeconds.max)) {
    throw new WecomError("invalid_parameter", `leaseSeconds must be a whole number from ${leaseSeconds.min} to ${leaseSeconds.max}`);
  }
  // A sharded app (docs/sharding.md): one socket per shard, `?shard=i`; without it, shard 0, whose first frame lists the shards.
  const shards = await shardsOf(context.env, app);
  const asked = context.url.searchParams.get("shard");
  const shard = asked === null ? 0 : /^[0-9]{1,2}$/.test(asked) ? Number(asked) : NaN;
  if (!shards.includes(shard)) throw new WecomError("invalid_parameter", `shard must be one of the app's shards: ${shards.join(", ")}`);
  const queue = queueName(app.name, shard);
  const response = await queueOf(context.env, queue).fetch("https://queue/feed", {
    headers: {
      upgrade: "websocket",
      [FEED_HEADERS.destination]: destination,
      [FEED_HEADERS.leaseSeconds]: String(seconds),
      ...(asked === null && shards.length > 1 ? { [FEED_HEADERS.shards]: shards.join(",") } : {}),
    },
  });
  if (response.status === 429) throw new WecomError("too_many_requests", `at most ${MAX_SOCKETS} sockets may be open on one destination`);
  return response;
}

/** The shards of the destination's app (docs/sharding.md): a consumer opens a socket on each (`?shard=`). */
async function shards(context: RouteContext): Promise<Response> {
  const { app } = await authorise(context);
  return jsonResponse({ shards: await shardsOf(context.env, app) });
}

function leaseField(body: Record<string, unknown>, required: boolean): string | null {
  const lease = body.lease;
  if (lease === undefined && !required) return null;
  if (typeof lease !== "string" || lease.length === 0 || lease.length > 64) {
    throw new WecomError("invalid_parameter", "lease must be the lease string of a pull answer");
  }
  return lease;
}

export const queueRoute: Route[] = [
  { name: "queue", path: /^\/queue\/([^/]+)\/(?:([^/]+)\/)?pull\/?$/, methods: { POST: pull }, appParam: 0 },
  { name: "queue", path: /^\/queue\/([^/]+)\/(?:([^/]+)\/)?ack\/?$/, methods: { POST: ack }, appParam: 0 },
  { name: "queue", path: /^\/queue\/([^/]+)\/(?:([^/]+)\/)?nack\/?$/, methods: { POST: nack }, appParam: 0 },
  { name: "queue", path: /^\/queue\/([^/]+)\/(?:([^/]+)\/)?ws\/?$/, methods: { GET: feed }, appParam: 0 },
  { name: "queue", path: /^\/queue\/([^/]+)\/(?:([^/]+)\/)?shards\/?$/, methods: { GET: shards }, appParam: 0 },
];
