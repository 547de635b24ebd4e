/**
 * The admin API, behind ADMIN_TOKEN (bearer, constant time):
 *
 *   GET  /admin/apps                    stats of every app
 *   GET  /admin/apps/{app}              stats of one app
 *   GET  /admin/apps/{app}/dead?limit=  its dead letters, oldest first
 *   POST /admin/apps/{app}/replay       {"ids": [...]} or {"all": true}: dead letters back in the queue
 *   POST /admin/apps/{app}/pause        stop pushing (events keep queueing)
 *   POST /admin/apps/{app}/resume       push again
 */
import { appFor, loadConfig, type ConfigEnv } from "../config.js";
import { WecomError } from "../errors.js";
import { queueOf, type QueueEnv } from "../queue/client.js";
import { requireBearer } from "./auth.js";
import { decodeSegment, idsField, jsonResponse, readJsonObject } from "./http.js";

export interface AdminEnv extends ConfigEnv, QueueEnv {
  ADMIN_TOKEN?: string;
}

const ROUTE = /^\/admin\/apps(?:\/([^/]+)(?:\/(dead|replay|pause|resume))?)?\/?$/;

export async function handleAdmin(request: Request, env: AdminEnv, url: URL): Promise<Response> {
  if (!env.ADMIN_TOKEN) {
    throw new WecomError("not_configured", "the admin API is off: set ADMIN_TOKEN with `wrangler secret put ADMIN_TOKEN`");
  }
  await requireBearer(request, env.ADMIN_TOKEN);
  const route = ROUTE.exec(url.pathname);
  if (!route) throw new WecomError("not_found", "no such route");
  const [, appName, action] = route;
  const config = loadConfig(env);

  if (appName === undefined) {
    expectMethod(request, "GET");
    const names = [...config.apps.keys()];
    return jsonResponse({
      apps: await Promise.all(names.map((name) => queueOf(env, name).stats(name))),
      invalidApps: Object.fromEntries(config.invalidApps),
    });
  }
  const app = appFor(config, decodeSegment(appName));
  const queue = queueOf(env, app.name);
  switch (action) {
    case undefined:
      expectMethod(request, "GET");
      return jsonResponse(await queue.stats(app.name));
    case "dead": {
      expectMethod(request, "GET");
      const limit = url.searchParams.get("limit") ?? "100";
      if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > 1000) {
        throw new WecomError("invalid_parameter", "limit must be a whole number from 1 to 1000");
      }
      return jsonResponse({ events: await queue.deadLetters(Number(limit)) });
    }
    case "replay": {
      expectMethod(request, "POST");
      const body = await readJsonObject(request);
      if (body.all === true && body.ids === undefined) return jsonResponse({ replayed: await queue.replay(null) });
      if (body.all !== undefined && body.all !== false) {
        throw new WecomError("invalid_parameter", 'give either "ids" or "all": true');
      }
      return jsonResponse({ replayed: await queue.replay(idsField(body, "ids", 1000)) });
    }
    default:
      expectMethod(request, "POST");
      return jsonResponse({ paused: await queue.setPaused(action === "pause") });
  }
}

function expectMethod(request: Request, method: "GET" | "POST"): void {
  if (request.method !== method) throw new WecomError("method_not_allowed", `use ${method}`);
}
