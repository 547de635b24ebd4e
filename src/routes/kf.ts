/**
 * 微信客服 (docs/kf.md), for the intranet, with `Authorization: Bearer
 * <kf.token>`: each account's newest callback Token, and the sync_msg cursor
 * that stateless workers share by compare-and-set. An unknown app, one
 * without `kf` and a wrong token all get the same 401.
 *
 *   GET /kf/{app}/{open_kfid}          → {"token", "receivedAt", "cursor"}; 404 for an account never seen
 *   PUT /kf/{app}/{open_kfid}/cursor   {"cursor", "expected"} → {"cursor"}; 409 {"error", "cursor"} when expected is stale
 */
import { loadConfig, type AppConfig } from "../config.js";
import { WecomError } from "../errors.js";
import { queueOf } from "../queue/bindings.js";
import { OPEN_KFID } from "../wecom/kf.js";
import { refuseBearer, requireBearer } from "./auth.js";
import { jsonResponse, readJsonObject } from "./http.js";
import type { Route, RouteContext } from "./table.js";

/** A sync_msg cursor: WeCom's next_cursor, kept as given. */
const CURSOR = /^[\x21-\x7e]{1,1024}$/;

async function authorise({ request, env, params, log }: RouteContext): Promise<{ app: AppConfig; openKfId: string }> {
  const config = loadConfig(env);
  const app = config.apps.get(params[0]!);
  if (!app?.kf) {
    log.detail = config.invalidApps.has(params[0]!) ? "app is misconfigured" : app ? "app has no kf" : "no such app";
    return refuseBearer(request);
  }
  await requireBearer(request, app.kf.token);
  const openKfId = params[1]!;
  if (!OPEN_KFID.test(openKfId)) throw new WecomError("invalid_parameter", "open_kfid must be 1-64 letters, digits, _ or -");
  return { app, openKfId };
}

async function account(context: RouteContext): Promise<Response> {
  const { app, openKfId } = await authorise(context);
  const kept = await queueOf(context.env, app.name).kfAccount(openKfId);
  if (kept === null) throw new WecomError("not_found", "no kf_msg_or_event callback or cursor for this open_kfid yet");
  return jsonResponse({ token: kept.token, receivedAt: kept.receivedAt === null ? null : new Date(kept.receivedAt).toISOString(), cursor: kept.cursor });
}

async function setCursor(context: RouteContext): Promise<Response> {
  const { app, openKfId } = await authorise(context);
  const body = await readJsonObject(context.request);
  const { cursor, expected } = body;
  if (typeof cursor !== "string" || !CURSOR.test(cursor)) throw new WecomError("invalid_parameter", "cursor must be 1-1024 visible ASCII characters: sync_msg's next_cursor");
  if (!("expected" in body) || (expected !== null && (typeof expected !== "string" || !CURSOR.test(expected)))) {
    throw new WecomError("invalid_parameter", "expected must be the cursor as read (null when there was none)");
  }
  const result = await queueOf(context.env, app.name).setKfCursor(openKfId, cursor, expected as string | null);
  // As every refusal, with the cursor as it is now beside it.
  if (!result.set) return jsonResponse({ error: { code: "conflict", message: "the cursor is no longer expected: read it again" }, cursor: result.cursor }, 409);
  return jsonResponse({ cursor: result.cursor });
}

export const kfRoutes: Route[] = [
  { name: "kf", path: /^\/kf\/([^/]+)\/([^/]+)\/?$/, methods: { GET: account }, appParam: 0, noStore: true },
  { name: "kf", path: /^\/kf\/([^/]+)\/([^/]+)\/cursor\/?$/, methods: { PUT: setCursor }, appParam: 0, noStore: true },
];
