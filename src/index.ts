/**
 * wecom-edge: WeCom's trusted callback URL at the edge.
 *
 *   GET  /callback/{app}   URL verification (echostr)
 *   POST /callback/{app}   messages and events
 *   GET  /healthz          200 while the configuration can serve
 */
import { appFor, receiveCallback, verifyUrl, type CallbackResult } from "./callback.js";
import { loadConfig, type ConfigEnv } from "./config.js";
import { statusOf, WecomError } from "./errors.js";
import { errorResponse, jsonResponse } from "./http.js";
import { logRequest, type RequestLog } from "./log.js";

export type WorkerEnv = ConfigEnv;

const CALLBACK = /^\/callback\/([^/]+)\/?$/;

export default {
  async fetch(request, env): Promise<Response> {
    const started = Date.now();
    const url = new URL(request.url);
    const callback = CALLBACK.exec(url.pathname);
    if (callback) return handleCallback(request, env, url, decodeSegment(callback[1]!), started);
    if (url.pathname === "/healthz") return health(request, env);
    return errorResponse(new WecomError("not_found", "no such route"));
  },
} satisfies ExportedHandler<WorkerEnv>;

async function handleCallback(
  request: Request,
  env: WorkerEnv,
  url: URL,
  appName: string,
  started: number,
): Promise<Response> {
  const log: RequestLog = { route: "callback", method: request.method, app: appName.slice(0, 64), status: 0, outcome: "ok", durationMs: 0 };
  let result: CallbackResult | undefined;
  let response: Response;
  let debug = false;
  try {
    if (request.method !== "GET" && request.method !== "POST") {
      throw new WecomError("method_not_allowed", "use GET for URL verification and POST for callbacks");
    }
    const config = loadConfig(env);
    debug = config.debug;
    const app = appFor(config, appName);
    result = request.method === "GET"
      ? await verifyUrl(app, config, url, started)
      : await receiveCallback(app, config, request, url, started);
    response = result.response;
  } catch (error) {
    const refused = asWecomError(error);
    log.code = refused.code;
    if (refused.detail !== undefined) log.detail = refused.detail;
    response = errorResponse(refused, refused.code === "method_not_allowed" ? { allow: "GET, POST" } : undefined);
  }
  log.status = response.status;
  log.outcome = response.status < 400 ? "ok" : response.status < 500 ? "refused" : "failed";
  if (result?.event) log.eventId = result.event.id;
  if (debug && result?.event) log.debugPlaintext = result.event.raw;
  log.durationMs = Date.now() - started;
  logRequest(log);
  return response;
}

function health(request: Request, env: WorkerEnv): Response {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return errorResponse(new WecomError("method_not_allowed", "use GET"), { allow: "GET, HEAD" });
  }
  try {
    const config = loadConfig(env);
    const invalid = Object.fromEntries(config.invalidApps);
    const ok = config.invalidApps.size === 0;
    return jsonResponse({ ok, apps: [...config.apps.keys()], ...(ok ? {} : { invalidApps: invalid }) }, ok ? 200 : 503);
  } catch (error) {
    const refused = asWecomError(error);
    return jsonResponse({ ok: false, error: { code: refused.code, message: refused.message } }, statusOf(refused.code));
  }
}

/**
 * Anything that is not a WecomError is a bug, not bad input: it is logged
 * and answered 503 so that WeCom retries; never 500, never a stack trace.
 */
function asWecomError(error: unknown): WecomError {
  if (error instanceof WecomError) return error;
  const name = error instanceof Error ? error.name : typeof error;
  return new WecomError("internal_error", "internal error; WeCom will retry", `unexpected ${name}`);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
