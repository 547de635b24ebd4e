/**
 * wecom-edge: WeCom's trusted callback URL at the edge.
 *
 *   GET  /callback/{app}        URL verification (echostr)
 *   POST /callback/{app}        messages and events → the app's queue
 *   POST /queue/{app}/pull|ack  pull API for apps with `pull`
 *   /admin/apps/…               admin API (ADMIN_TOKEN)
 *   GET  /healthz               200 while the configuration can serve
 */
import { appFor, loadConfig } from "./config.js";
import { statusOf, WecomError } from "./errors.js";
import { logRequest, type RequestLog } from "./log.js";
import { deliveryFor } from "./queue/client.js";
import { handleAdmin } from "./routes/admin.js";
import { receiveCallback, verifyUrl, type CallbackResult } from "./routes/callback.js";
import { decodeSegment, errorResponse, jsonResponse } from "./routes/http.js";
import { handleQueue } from "./routes/pull.js";

export { AppQueue } from "./queue/app-queue.js";

/**
 * `Env` is generated from wrangler.toml by `npm run types` (vars and the QUEUE
 * binding). Secrets are not in wrangler.toml, so they are typed here, all
 * optional: a deployment without them must still answer with a clear message.
 */
export interface Secrets {
  WECOM_APPS?: string;
  ADMIN_TOKEN?: string;
  WECOM_DEMO?: string;
}

export type WorkerEnv = Env & Secrets;

const CALLBACK = /^\/callback\/([^/]+)\/?$/;
const QUEUE = /^\/queue\/([^/]+)\/(pull|ack)\/?$/;

export default {
  async fetch(request, env): Promise<Response> {
    const started = Date.now();
    const url = new URL(request.url);
    const callback = CALLBACK.exec(url.pathname);
    if (callback) {
      const appName = decodeSegment(callback[1]!);
      return serve(request, { route: "callback", app: appName, allow: "GET, POST" }, started, (log) =>
        handleCallback(request, env, url, appName, started, log),
      );
    }
    const queue = QUEUE.exec(url.pathname);
    if (queue) {
      const appName = decodeSegment(queue[1]!);
      return serve(request, { route: "queue", app: appName, allow: "POST" }, started, async () => ({
        response: await handleQueue(request, env, appName, queue[2] as "pull" | "ack"),
      }));
    }
    if (url.pathname === "/admin/apps" || url.pathname.startsWith("/admin/apps/")) {
      return serve(request, { route: "admin", allow: "GET, POST" }, started, async () => ({
        response: await handleAdmin(request, env, url),
      }));
    }
    if (url.pathname === "/healthz") return health(request, env);
    return errorResponse(new WecomError("not_found", "no such route"));
  },
} satisfies ExportedHandler<WorkerEnv>;

interface RouteInfo {
  route: RequestLog["route"];
  app?: string;
  allow: string;
}

/** Runs a handler, turns any refusal into its JSON answer, and writes the one log line. */
async function serve(
  request: Request,
  info: RouteInfo,
  started: number,
  handler: (log: RequestLog) => Promise<CallbackResult>,
): Promise<Response> {
  const log: RequestLog = { route: info.route, method: request.method, status: 0, outcome: "ok", durationMs: 0 };
  if (info.app !== undefined) log.app = info.app.slice(0, 64);
  let response: Response;
  try {
    const result = await handler(log);
    response = result.response;
    if (result.event) log.eventId = result.event.id;
  } catch (error) {
    const refused = asWecomError(error);
    log.code = refused.code;
    if (refused.detail !== undefined) log.detail = refused.detail;
    const headers = new Headers();
    if (refused.code === "method_not_allowed") headers.set("allow", info.allow);
    if (refused.code === "unauthorized") headers.set("www-authenticate", "Bearer");
    response = errorResponse(refused, headers);
  }
  log.status = response.status;
  log.outcome = response.status < 400 ? "ok" : response.status < 500 ? "refused" : "failed";
  log.durationMs = Date.now() - started;
  logRequest(log);
  return response;
}

async function handleCallback(
  request: Request,
  env: WorkerEnv,
  url: URL,
  appName: string,
  started: number,
  log: RequestLog,
): Promise<CallbackResult> {
  if (request.method !== "GET" && request.method !== "POST") {
    throw new WecomError("method_not_allowed", "use GET for URL verification and POST for callbacks");
  }
  const config = loadConfig(env);
  const app = appFor(config, appName);
  const result =
    request.method === "GET"
      ? await verifyUrl(app, config, url, started)
      : await receiveCallback(app, config, request, url, started, deliveryFor(app, env));
  if (config.debug && result.event) log.debugPlaintext = result.event.raw;
  return result;
}

function health(request: Request, env: WorkerEnv): Response {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return errorResponse(new WecomError("method_not_allowed", "use GET"), { allow: "GET, HEAD" });
  }
  try {
    // Counts only: which apps exist and what is wrong with them is for the admin API and the logs.
    const config = loadConfig(env);
    const ok = config.apps.size > 0;
    return jsonResponse({ ok, apps: config.apps.size, invalidApps: config.invalidApps.size }, ok ? 200 : 503);
  } catch (error) {
    const refused = asWecomError(error);
    return jsonResponse({ ok: false, error: { code: refused.code, message: refused.message } }, statusOf(refused.code));
  }
}

/**
 * Anything that is not a WecomError is a bug or a platform fault, not bad
 * input: it is logged and answered 503 so that WeCom retries; never 500,
 * never a stack trace.
 */
function asWecomError(error: unknown): WecomError {
  if (error instanceof WecomError) return error;
  const name = error instanceof Error ? error.name : typeof error;
  return new WecomError("internal_error", "internal error; WeCom will retry", `unexpected ${name}`);
}
