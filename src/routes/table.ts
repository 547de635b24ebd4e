/**
 * The route table: every path the Worker answers, the methods each action
 * takes (a 405 names exactly those), and the handler. docs/architecture.md, "Routes and answers".
 */
import type { WorkerEnv } from "../env.js";
import { WecomError } from "../errors.js";
import type { RequestLog } from "../log.js";
import { adminRoutes } from "./admin.js";
import { botRoutes } from "./bots.js";
import { callbackRoute, suiteDataRoute } from "./callback.js";
import { suiteRoutes } from "./suites.js";
import { kfRoutes } from "./kf.js";
import { healthRoute } from "./health.js";
import { decodeSegment, errorResponse } from "./http.js";
import { queueRoute } from "./pull.js";
import { serve } from "./serve.js";
import { verifyFileRoute } from "./verify-files.js";

export interface RouteContext {
  readonly request: Request;
  readonly env: WorkerEnv;
  /** For work that must not hold up the answer. */
  readonly ctx: Pick<ExecutionContext, "waitUntil">;
  readonly url: URL;
  /** The path's captures, percent-decoded. */
  readonly params: readonly string[];
  readonly started: number;
  readonly log: RequestLog;
}

export interface Route {
  readonly name: RequestLog["route"];
  readonly path: RegExp;
  /** Method → handler. */
  readonly methods: Readonly<Record<string, (context: RouteContext) => Promise<Response>>>;
  /** Which capture names the app, for the log line. */
  readonly appParam?: number;
  readonly log?: false;
  /** Every answer, refusals included, gets `cache-control: no-store`: it holds what no cache may keep. */
  readonly noStore?: true;
}

export const ROUTES: readonly Route[] = [callbackRoute, suiteDataRoute, ...queueRoute, ...botRoutes, ...suiteRoutes, ...kfRoutes, ...adminRoutes, healthRoute, verifyFileRoute];

export function dispatch(request: Request, env: WorkerEnv, ctx: Pick<ExecutionContext, "waitUntil">): Promise<Response> {
  const started = Date.now();
  const url = new URL(request.url);
  for (const route of ROUTES) {
    const match = route.path.exec(url.pathname);
    if (!match) continue;
    const params = match.slice(1).map((segment) => (segment === undefined ? "" : decodeSegment(segment)));
    const app = route.appParam === undefined ? undefined : params[route.appParam];
    const allow = Object.keys(route.methods);
    const options = { route: route.name, ...(app !== undefined ? { app } : {}), allow, log: route.log ?? true, noStore: route.noStore ?? false };
    return serve(request, options, started, (log) =>
      route.methods[request.method]!({ request, env, ctx, url, params, started, log }),
    );
  }
  return Promise.resolve(errorResponse(new WecomError("not_found", "no such route")));
}
