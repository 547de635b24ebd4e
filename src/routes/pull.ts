/**
 * The pull API, for apps with `pull`: intranet consumers, which may only
 * make outbound connections, lease events and ack or release them.
 * docs/delivery.md, "Pulling from the queue".
 *
 *   POST /queue/{app}/pull  {"max", "leaseSeconds"}         → {"events", "lease", "attempts"}
 *   POST /queue/{app}/ack   {"ids", "lease"}                 → {"acked", "notAcked"}
 *   POST /queue/{app}/nack  {"ids", "lease", "delaySeconds"} → {"released", "notReleased"}
 *
 * An unknown app, an app that pushes and a wrong token get the same 401:
 * the API does not tell app names apart before the caller is authenticated.
 */
import { loadConfig, type AppConfig } from "../config.js";
import { WecomError } from "../errors.js";
import { queueOf } from "../queue/bindings.js";
import { encodeSettings } from "../queue/settings.js";
import { refuseBearer, requireBearer } from "./auth.js";
import { idsField, intField, jsonResponse, jsonTextResponse, readJsonObject } from "./http.js";
import type { Route, RouteContext } from "./table.js";

export const PULL_LIMITS = {
  max: { fallback: 10, min: 1, max: 100 },
  leaseSeconds: { fallback: 60, min: 1, max: 43_200 },
  delaySeconds: { fallback: 0, min: 0, max: 43_200 },
  ids: 1_000,
} as const;

/** The app, once the caller has proved it holds the app's pull token. */
async function authorise({ request, env, params, log }: RouteContext): Promise<AppConfig> {
  const config = loadConfig(env);
  const app = config.apps.get(params[0]!);
  if (!app?.pull) {
    log.detail = config.invalidApps.has(params[0]!) ? "app is misconfigured" : app ? "app pushes; it has no pull queue" : "no such app";
    return refuseBearer(request);
  }
  await requireBearer(request, app.pull.token);
  return app;
}

async function pull(context: RouteContext): Promise<Response> {
  const app = await authorise(context);
  const body = await readJsonObject(context.request);
  const { max, leaseSeconds } = PULL_LIMITS;
  const pulled = await queueOf(context.env, app.name).pull(
    app.name,
    encodeSettings(app),
    intField(body, "max", max.fallback, max.min, max.max),
    intField(body, "leaseSeconds", leaseSeconds.fallback, leaseSeconds.min, leaseSeconds.max),
  );
  // Each event is stored as the JSON text that a push would carry: splice, don't re-encode.
  const attempts = Object.fromEntries(pulled.ids.map((id, i) => [id, pulled.attempts[i]]));
  return jsonTextResponse(`{"events":[${pulled.events.join(",")}],"lease":${JSON.stringify(pulled.lease)},"attempts":${JSON.stringify(attempts)}}`);
}

async function ack(context: RouteContext): Promise<Response> {
  const app = await authorise(context);
  const body = await readJsonObject(context.request);
  const ids = idsField(body, "ids", PULL_LIMITS.ids);
  const lease = leaseField(body, false);
  return jsonResponse(await queueOf(context.env, app.name).ack(ids, lease));
}

async function nack(context: RouteContext): Promise<Response> {
  const app = await authorise(context);
  const body = await readJsonObject(context.request);
  const ids = idsField(body, "ids", PULL_LIMITS.ids);
  const lease = leaseField(body, true)!;
  const { delaySeconds } = PULL_LIMITS;
  const delay = intField(body, "delaySeconds", delaySeconds.fallback, delaySeconds.min, delaySeconds.max);
  return jsonResponse(await queueOf(context.env, app.name).nack(ids, lease, delay));
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
  { name: "queue", path: /^\/queue\/([^/]+)\/pull\/?$/, methods: { POST: pull }, appParam: 0 },
  { name: "queue", path: /^\/queue\/([^/]+)\/ack\/?$/, methods: { POST: ack }, appParam: 0 },
  { name: "queue", path: /^\/queue\/([^/]+)\/nack\/?$/, methods: { POST: nack }, appParam: 0 },
];
