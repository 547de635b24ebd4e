/**
 * GET /suites/{app}/ticket (docs/providers.md, "The latest ticket"): a
 * suite's newest suite_ticket, for the provider's backend on the intranet,
 * with `Authorization: Bearer <suite.ticketToken>`. An unknown app, one that
 * is not a suite and a wrong token all get the same 401.
 *
 *   200 {"suiteId", "ticket", "receivedAt", "ageSeconds", "stale"}
 *   404 not_found  no suite_ticket has arrived yet
 */
import { loadConfig } from "../config.js";
import { WecomError } from "../errors.js";
import { queueOf } from "../queue/bindings.js";
import { TICKET_VALID_SECONDS } from "../queue/tickets.js";
import { refuseBearer, requireBearer } from "./auth.js";
import { jsonResponse } from "./http.js";
import type { Route, RouteContext } from "./table.js";

async function ticket({ request, env, params, started, log }: RouteContext): Promise<Response> {
  const config = loadConfig(env);
  const app = config.apps.get(params[0]!);
  if (!app?.suite) {
    log.detail = config.invalidApps.has(params[0]!) ? "app is misconfigured" : app ? "app is not a suite" : "no such app";
    return refuseBearer(request);
  }
  await requireBearer(request, app.suite.ticketToken);
  const kept = await queueOf(env, app.name).suiteTicket(app.suite.suiteId);
  if (kept.ticket === null || kept.receivedAt === null) {
    throw new WecomError("not_found", "no suite_ticket has arrived yet: WeCom pushes one every 10 minutes to the instruction URL");
  }
  const ageSeconds = Math.max(0, Math.floor((started - kept.receivedAt) / 1000));
  return jsonResponse({ suiteId: kept.suiteId, ticket: kept.ticket, receivedAt: new Date(kept.receivedAt).toISOString(), ageSeconds, stale: ageSeconds > TICKET_VALID_SECONDS });
}

export const suiteRoutes: Route[] = [{ name: "suites", path: /^\/suites\/([^/]+)\/ticket\/?$/, methods: { GET: ticket }, appParam: 0, noStore: true }];
