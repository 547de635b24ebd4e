/**
 * GET /healthz: 200 while every configured app can serve; 503 when the
 * configuration cannot load or any app is invalid (an app that cannot
 * serve is not ok, whatever else does). Counts only: which apps exist and
 * what is wrong with them is for the admin API and the logs.
 * With WECOM_ALERTS set, `invalidAlerts` is 1 while it is broken (callbacks
 * are served all the same; docs/operating.md, "Alerts").
 */
import { alertsProblem } from "../alerts/config.js";
import { loadConfig } from "../config.js";
import { statusOf } from "../errors.js";
import { jsonResponse } from "./http.js";
import { asWecomError } from "./serve.js";
import type { Route, RouteContext } from "./table.js";

async function health({ env }: RouteContext): Promise<Response> {
  try {
    const config = loadConfig(env);
    const ok = config.apps.size > 0 && config.invalidApps.size === 0;
    return jsonResponse({ ok, apps: config.apps.size, invalidApps: config.invalidApps.size, ...alertsCount(env) }, ok ? 200 : 503);
  } catch (error) {
    const refused = asWecomError(error);
    return jsonResponse({ ok: false, error: { code: refused.code, message: refused.message }, ...alertsCount(env) }, statusOf(refused.code));
  }
}

function alertsCount(env: RouteContext["env"]): { invalidAlerts?: number } {
  if (env.WECOM_ALERTS === undefined || env.WECOM_ALERTS.trim() === "") return {};
  return { invalidAlerts: alertsProblem(env) === undefined ? 0 : 1 };
}

export const healthRoute: Route = { name: "health", path: /^\/healthz$/, methods: { GET: health, HEAD: health }, log: false };
