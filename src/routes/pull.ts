/**
 * The pull API, for pull destinations: intranet consumers, which may only
 * make outbound connections, lease events and ack or release them.
 * docs/delivery.md, "Pulling from the queue"; docs/routing.md.
 *
 *   POST /queue/{app}[/{destination}]/pull  {"max", "leaseSeconds", "waitSeconds"} → {"events", "ids", "lease", "attempts"}
 *   POST /queue/{app}[/{destination}]/ack   {"ids", "lease"}                 → {"acked", "notAcked"}
 *   POST /queue/{app}[/{destination}]/nack  {"ids", "lease", "delaySeconds"} → {"released", "notReleased"}
 *
 *   GET  /queue/{app}[/{destination}]/ws    WebSocket feed (docs/feed.md), ?leaseSeconds=
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
import { FEED_HEADERS } from "../queue/app-queue.js";
import { queueOf } from "../queue/bindings.js";
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
  const queue = queueOf(context.env, app.name);
  const wait = intField(body, "waitSeconds", waitSeconds.fallback, waitSeconds.min, waitSeconds.max);
  // A long-poll whose client goes away stops waiting, so that it leases nothing to nobody.
  const waitId = wait > 0 ? crypto.randomUUID() : undefined;
  const onAbort = () => context.ctx.waitUntil(queue.cancelWait(waitId!));
  if (waitId !== undefined) {
    if (context.request.signal.aborted) onAbort();
    else context.request.signal.addEventListener("abort", onAbort, { once: true });
  }
  let pulled;
  try {
    pulled = await queue.pull(
      app.name,
      encodeSettings(app),
      destination,
      intField(body, "max", max.fallback, max.min, max.max),
      intField(body, "leaseSeconds", leaseSeconds.fallback, leaseSeconds.min, leaseSeconds.max),
      wait,
      waitId,
    );
  } finally {
    if (waitId !== undefined) context.request.signal.removeEventListener("abort", onAbort);
  }
  // Each event is stored as the JSON text that a push would carry: splice, don't re-encode.
  const attempts = Object.fromEntries(pulled.ids.map((id, i) => [id, pulled.attempts[i]]));
  // `ids` beside `events`: a transformed item need not carry the event's id (docs/routing.md, "Transformations").
  return jsonTextResponse(
    `{"events":[${pulled.events.join(",")}],"ids":${JSON.stringify(pulled.ids)},"lease":${JSON.stringify(pulled.lease)},"attempts":${JSON.stringify(attempts)}}`,
  );
}

async function ack(context: RouteContext): Promise<Response> {
  const { app, destination } = await authorise(context);
  const body = await readJsonObject(context.request);
  const ids = idsField(body, "ids", PULL_LIMITS.ids);
  const lease = leaseField(body, false);
  return jsonResponse(await queueOf(context.env, app.name).ack(destination, ids, lease));
}

async function nack(context: RouteContext): Promise<Response> {
  const { app, destination } = await authorise(context);
  const body = await readJsonObject(context.request);
  const ids = idsField(body, "ids", PULL_LIMITS.ids);
  const lease = leaseField(body, true)!;
  const { delaySeconds } = PULL_LIMITS;
  const delay = intField(body, "delaySeconds", delaySeconds.fallback, delaySeconds.min, delaySeconds.max);
  return jsonResponse(await queueOf(context.env, app.name).nack(destination, ids, lease, delay));
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
  const response = await queueOf(context.env, app.name).fetch("https://queue/feed", {
    headers: { upgrade: "websocket", [FEED_HEADERS.destination]: destination, [FEED_HEADERS.leaseSeconds]: String(seconds) },
  });
  if (response.status === 429) throw new WecomError("too_many_requests", `at most ${MAX_SOCKETS} sockets may be open on one destination`);
  return response;
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
];
