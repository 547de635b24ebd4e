/**
 * The admin API, behind ADMIN_TOKEN (bearer, constant time). docs/operating.md, "Admin API".
 *
 *   GET  /admin/apps                 stats of every queue, the invalid apps, and a broken WECOM_ALERTS
 *   GET  /admin/apps/{app}           stats of one queue
 *   GET  /admin/apps/{app}/dead      its dead letters, oldest first (?limit=)
 *   GET  /admin/apps/{app}/dead/{id} one dead letter's stored event JSON, byte for byte
 *   GET  /admin/apps/{app}/refusals  its last refused callbacks, newest first ("*": callbacks to unknown app names)
 *   POST /admin/apps/{app}/replay    {"ids": [...]} or {"all": true}: dead letters back in the queue
 *   POST /admin/apps/{app}/purge     {"ids": [...]} or {"all": true}: dead letters deleted
 *   POST /admin/apps/{app}/pause     stop pushing (events keep queueing)
 *   POST /admin/apps/{app}/resume    push again
 *   POST /admin/apps/{app}/drop      delete the queue of an app no longer configured
 *   POST /admin/apps/{app}/routes/test  an event: the destinations it would go to, and why not the others (routes-test.ts)
 *   GET  /admin/apps/{app}/destinations/{d}            one destination's stats
 *   …/destinations/{d}/dead, dead/{id}, replay, purge, pause, resume: as above, for that destination alone
 *   POST /admin/apps/{app}/destinations/{d}/drop       forget a destination no longer configured, and all it holds
 *
 * Queues of apps no longer in WECOM_APPS are managed like any other: the
 * registry knows them.
 */
import { alertsProblem } from "../alerts/config.js";
import { fingerprintOf, loadConfig, UNKNOWN_APPS, type AppConfig, type GatewayConfig } from "../config.js";
import type { AppQueue, QueueStats } from "../queue/app-queue.js";
import { shardsOf } from "../queue/client.js";
import { queueName, shardOfQueue } from "../queue/shards.js";
import { mergeStats } from "./shard-stats.js";
import { WecomError } from "../errors.js";
import { queueOf, registryOf } from "../queue/bindings.js";
import { encodeSettings } from "../queue/settings.js";
import { authoriseAdmin } from "./admin-auth.js";
import { idsField, jsonResponse, jsonTextResponse, readJsonObject } from "./http.js";
import { testRoutes } from "./routes-test.js";
import { asWecomError } from "./serve.js";
import type { Route, RouteContext } from "./table.js";

const MAX_IDS = 1_000;

function authorise({ request, env, url, started }: RouteContext): Promise<void> {
  return authoriseAdmin(request, env, url, started);
}

/** The configuration, or an empty one and why: the admin API must keep working while WECOM_APPS is broken. */
function configOf(context: RouteContext): { config: GatewayConfig; problem?: string } {
  try {
    return { config: loadConfig(context.env) };
  } catch (error) {
    const empty: GatewayConfig = { apps: new Map(), invalidApps: new Map(), maxSkewSeconds: 0, debug: false };
    return { config: empty, problem: asWecomError(error).message };
  }
}

/**
 * The named queue and its app's live settings (null when the app is no
 * longer configured), and the queues an action on it acts on: a sharded
 * app's every shard (docs/sharding.md), or the one queue named, which may be
 * one shard (`hr.3`) on its own.
 */
async function target(context: RouteContext): Promise<{ name: string; settings: string | null; app?: AppConfig; queues: readonly string[]; draining?: true }> {
  await authorise(context);
  const name = context.params[0]!;
  const apps = configOf(context).config.apps;
  const app = apps.get(name);
  if (app) return { name, settings: encodeSettings(app), app, queues: (await shardsOf(context.env, app)).map((shard) => queueName(name, shard)) };
  // One shard's queue on its own: {app}.{i}, and {app}.0 for the app's own queue.
  const shard = shardOfQueue(name);
  const owner = shard !== null && name !== shard.app ? apps.get(shard.app) : undefined;
  const queue = owner ? queueName(owner.name, shard!.shard) : name;
  const registered = (await registryOf(context.env).list()).includes(queue);
  // A shard past the app's count drains with the app's settings, and may be dropped once empty.
  if (owner && (shard!.shard < owner.shards || registered)) {
    return { name: queue, settings: encodeSettings(owner), app: owner, queues: [queue], ...(shard!.shard >= owner.shards ? { draining: true as const } : {}) };
  }
  if (registered) return { name, settings: null, queues: [name] };
  throw new WecomError("unknown_app", `no app or queue named "${name.slice(0, 64)}"`);
}

/** `action` on each of `queues`, in parallel. */
function eachQueue<T>(context: RouteContext, queues: readonly string[], action: (queue: DurableObjectStub<AppQueue>, which: string) => Promise<T>): Promise<T[]> {
  return Promise.all(queues.map((queue) => action(queueOf(context.env, queue), queue)));
}

/** The stats of an app's queues as the app's: one queue's as they are, several added up. */
async function appStats(context: RouteContext, name: string, queues: readonly string[], settings: string | null): Promise<QueueStats> {
  const list = await eachQueue(context, queues, (queue, which) => queue.stats(which, settings));
  return list.length === 1 ? list[0]! : mergeStats(name, queues, list);
}

async function list(context: RouteContext): Promise<Response> {
  await authorise(context);
  const { config, problem } = configOf(context);
  const configured = [...config.apps.values()].map(async (app) =>
    named(await appStats(context, app.name, (await shardsOf(context.env, app)).map((shard) => queueName(app.name, shard)), encodeSettings(app)), app),
  );
  // A configured app's shards are in its stats (docs/sharding.md).
  const ofConfigured = (name: string) => config.apps.has(name) || config.apps.has(shardOfQueue(name)?.app ?? "");
  const removed = (await registryOf(context.env).list())
    .filter((name) => !ofConfigured(name))
    .map(async (name) => named(await queueOf(context.env, name).stats(name, null)));
  const removedStats = (await Promise.all(removed)).filter((stats) => stats.depth + stats.dead > 0);
  const alertsError = alertsProblem(context.env);
  return jsonResponse({
    apps: [...(await Promise.all(configured)), ...removedStats],
    invalidApps: Object.fromEntries(config.invalidApps),
    ...(problem !== undefined ? { configError: problem } : {}),
    ...(alertsError !== undefined ? { alertsError } : {}),
  });
}

async function stats(context: RouteContext): Promise<Response> {
  const { name, settings, app, queues } = await target(context);
  return jsonResponse(await named(await appStats(context, name, queues, settings), app));
}

/**
 * The queue's stats with callbacks per credential under each credential's
 * name (`current`, `previous[0]` …), so that an operator sees when an old
 * one has gone quiet and can be dropped; a fingerprint no longer configured
 * is listed with no name.
 */
async function named(stats: QueueStats, app?: AppConfig) {
  const counted = stats.credentials;
  const credentials: { name: string | null; id: string; callbacks: number; lastCallbackAt: string | null }[] = [];
  for (const credential of app?.credentials ?? []) {
    const id = await fingerprintOf(credential);
    const count = counted[id];
    credentials.push({ name: credential.name, id, callbacks: count?.callbacks ?? 0, lastCallbackAt: count ? new Date(count.lastAt).toISOString() : null });
  }
  for (const [id, count] of Object.entries(counted)) {
    if (!credentials.some((c) => c.id === id)) {
      credentials.push({ name: null, id, callbacks: count.callbacks, lastCallbackAt: new Date(count.lastAt).toISOString() });
    }
  }
  return { ...stats, credentials };
}

/**
 * The destination a …/destinations/{d}/… route names (undefined on an app's
 * own routes, which act on every destination): one the app configures, or
 * one its queue still holds.
 */
async function destinationOf(context: RouteContext, name: string, app: AppConfig | undefined, queues: readonly string[], scoped: boolean): Promise<string | undefined> {
  if (!scoped) return undefined;
  const destination = context.params[1]!;
  if (app?.destinations.some((d) => d.name === destination)) return destination;
  const held = (await appStats(context, name, queues, null)).destinations.some((d) => d.name === destination);
  if (!held) throw new WecomError("not_found", `no destination "${destination.slice(0, 64)}" in "${name.slice(0, 64)}"`);
  return destination;
}

async function destinationStats(context: RouteContext, scoped = false): Promise<Response> {
  const { name, settings, app, queues } = await target(context);
  const destination = await destinationOf(context, name, app, queues, scoped);
  const stats = await appStats(context, name, queues, settings);
  return jsonResponse({ app: name, ...stats.destinations.find((d) => d.name === destination)! });
}

async function dropDestination(context: RouteContext, scoped = false): Promise<Response> {
  const { name, app, settings, queues } = await target(context);
  const destination = (await destinationOf(context, name, app, queues, scoped))!;
  if (configOf(context).problem !== undefined || app?.destinations.some((d) => d.name === destination)) {
    throw new WecomError("conflict", `destination "${destination}" is configured: remove it from the app's destinations first`);
  }
  // The queue takes the live settings first: a destination just removed is no longer configured there either.
  const dropped = await eachQueue(context, queues, (queue, which) => queue.dropDestination(destination, which, settings ?? undefined));
  if (dropped.some((n) => n === null)) throw new WecomError("conflict", `destination "${destination}" is configured: remove it from the app's destinations first`);
  return jsonResponse({ dropped: destination, deliveries: dropped.reduce<number>((n, d) => n + (d ?? 0), 0) });
}

async function dead(context: RouteContext, scoped = false): Promise<Response> {
  const { name, app, queues } = await target(context);
  const destination = await destinationOf(context, name, app, queues, scoped);
  const limit = context.url.searchParams.get("limit") ?? "100";
  if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > 1000) {
    throw new WecomError("invalid_parameter", "limit must be a whole number from 1 to 1000");
  }
  // Shard by shard, up to the limit in all.
  const letters = [];
  for (const queue of queues) {
    if (letters.length >= Number(limit)) break;
    letters.push(...(await queueOf(context.env, queue).deadLetters(Number(limit) - letters.length, destination)));
  }
  // The stored event JSON is spliced in as it is: a re-encoding would round a JSON callback's big numbers.
  const items = letters.map(({ body, id, destination, receivedAt, attempts, lastError }) => {
    const head = JSON.stringify({ id, destination, receivedAt: new Date(receivedAt).toISOString(), attempts, lastError });
    return `${head.slice(0, -1)},"event":${body}}`;
  });
  return jsonTextResponse(`{"events":[${items.join(",")}]}`);
}

/** One dead letter's event JSON as stored, as the whole body: what a browser shows with `response.text()`. */
async function deadOne(context: RouteContext, scoped = false): Promise<Response> {
  const { name, app, queues } = await target(context);
  const destination = await destinationOf(context, name, app, queues, scoped);
  const id = context.params[destination === undefined ? 1 : 2]!;
  let body: string | null = null;
  for (const queue of id.length > 0 && id.length <= 128 ? queues : []) {
    body = await queueOf(context.env, queue).deadLetterBody(id, destination);
    if (body !== null) break;
  }
  if (body === null) throw new WecomError("not_found", `no dead letter "${id.slice(0, 128)}" in "${name.slice(0, 64)}"`);
  return jsonTextResponse(body);
}

async function refusals(context: RouteContext): Promise<Response> {
  // "*": callbacks to app names that are not configured (callback.ts).
  const name = context.params[0] === UNKNOWN_APPS ? (await authorise(context), UNKNOWN_APPS) : (await target(context)).name;
  const kept = await queueOf(context.env, name).refusals();
  return jsonResponse({
    refusals: kept.map(({ at, method, code, reason, hint }) => ({
      at: new Date(at).toISOString(),
      method,
      // The official WXBizMsgCrypt codes are numbers, as in the refusal itself.
      code: /^-\d+$/.test(code) ? Number(code) : code,
      reason,
      hint,
    })),
  });
}

/** `{"ids": [...]}` or `{"all": true}`: null means all. */
async function selection(request: Request): Promise<readonly string[] | null> {
  const body = await readJsonObject(request);
  if (body.all === true && body.ids === undefined) return null;
  if (body.all !== undefined && body.all !== false) throw new WecomError("invalid_parameter", 'give either "ids" or "all": true');
  return idsField(body, "ids", MAX_IDS);
}

async function replay(context: RouteContext, scoped = false): Promise<Response> {
  const { name, app, settings, queues } = await target(context);
  const destination = await destinationOf(context, name, app, queues, scoped);
  const ids = await selection(context.request);
  // The live settings go along: the queue may not have seen the deploy that fixed what the dead letters died of.
  const replayed = await eachQueue(context, queues, (queue, which) => queue.replay(ids, destination, which, settings ?? undefined));
  return jsonResponse({ replayed: replayed.reduce((n, r) => n + r, 0) });
}

async function purge(context: RouteContext, scoped = false): Promise<Response> {
  const { name, app, queues } = await target(context);
  const destination = await destinationOf(context, name, app, queues, scoped);
  const ids = await selection(context.request);
  const purged = await eachQueue(context, queues, (queue) => queue.purgeDead(ids, destination));
  return jsonResponse({ purged: purged.reduce((n, p) => n + p, 0) });
}

async function pause(context: RouteContext, scoped = false): Promise<Response> {
  const { name, app, settings, queues } = await target(context);
  const destination = await destinationOf(context, name, app, queues, scoped);
  const paused = await eachQueue(context, queues, (queue, which) => queue.setPaused(true, destination, which, settings ?? undefined));
  return jsonResponse({ paused: paused.every(Boolean) });
}

async function resume(context: RouteContext, scoped = false): Promise<Response> {
  const { name, app, settings, queues } = await target(context);
  const destination = await destinationOf(context, name, app, queues, scoped);
  const paused = await eachQueue(context, queues, (queue, which) => queue.setPaused(false, destination, which, settings ?? undefined));
  return jsonResponse({ paused: paused.some(Boolean) });
}

async function drop(context: RouteContext): Promise<Response> {
  const { name, settings, queues, draining } = await target(context);
  // A configuration that cannot load makes every queue look removed: no drop until it says so.
  if (configOf(context).problem !== undefined) {
    throw new WecomError("not_configured", "the configuration cannot be loaded; a queue is dropped only when the configuration says its app is gone");
  }
  if (settings !== null && !draining) {
    throw new WecomError("conflict", `app "${name}" is configured: remove it from WECOM_APPS first, or purge its dead letters`);
  }
  const dropped = await eachQueue(context, queues, (queue, which) => queue.purgeAll(which));
  return jsonResponse({ dropped: dropped.reduce((n, d) => n + d, 0) });
}

const APP = "([^/]+)";
/** Every admin answer is `cache-control: no-store` (serve.ts): stats, event JSON and refusals alike. */
const admin = (path: RegExp, methods: Route["methods"], appParam?: number): Route => ({
  name: "admin",
  path,
  methods,
  ...(appParam !== undefined ? { appParam } : {}),
  noStore: true,
});
export const adminRoutes: Route[] = [
  admin(/^\/admin\/apps\/?$/, { GET: list }),
  admin(new RegExp(`^/admin/apps/${APP}/?$`), { GET: stats }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/dead/?$`), { GET: dead }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/dead/([^/]+)$`), { GET: deadOne }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/refusals/?$`), { GET: refusals }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/replay/?$`), { POST: replay }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/purge/?$`), { POST: purge }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/pause/?$`), { POST: pause }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/resume/?$`), { POST: resume }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/drop/?$`), { POST: drop }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/routes/test/?$`), { POST: testRoutes }, 0),
  // One destination's routes: the same handlers, scoped (params[1] is the destination).
  admin(new RegExp(`^/admin/apps/${APP}/destinations/${APP}/?$`), { GET: (c) => destinationStats(c, true) }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/destinations/${APP}/dead/?$`), { GET: (c) => dead(c, true) }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/destinations/${APP}/dead/([^/]+)$`), { GET: (c) => deadOne(c, true) }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/destinations/${APP}/replay/?$`), { POST: (c) => replay(c, true) }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/destinations/${APP}/purge/?$`), { POST: (c) => purge(c, true) }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/destinations/${APP}/pause/?$`), { POST: (c) => pause(c, true) }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/destinations/${APP}/resume/?$`), { POST: (c) => resume(c, true) }, 0),
  admin(new RegExp(`^/admin/apps/${APP}/destinations/${APP}/drop/?$`), { POST: (c) => dropDestination(c, true) }, 0),
];
