/**
 * POST /admin/apps/{app}/routes/test (docs/operating.md, "Admin API"): which
 * of the app's destinations an event would go to, why each other one would
 * not, its order key, and what each transform would make of it. Nothing is
 * stored or sent.
 *
 * The body is an event: the full event JSON as the intranet receives it
 * (an object with an object `event` and a string `id`), or only its `event`
 * object (anything else). Event-only, the transforms see it inside the
 * event JSON a JSON callback of the app would make (`id` "evt_test",
 * `receivedAt` now).
 *
 * Hints (src/wecom/known.ts) name a field or value of a destination's match,
 * or of the event, that is close to one in WeCom's catalogue but not it.
 */
import { loadConfig, type AppConfig } from "../config.js";
import { applyTransform } from "../destinations/transform.js";
import { route, type Routed } from "../destinations/route.js";
import { WecomError } from "../errors.js";
import { isPlainObject } from "../lib/checks.js";
import { serializeEvent } from "../wecom/event.js";
import { eventHints, matchHints } from "../wecom/known.js";
import { authoriseAdmin } from "./admin-auth.js";
import { jsonResponse, MAX_BODY_BYTES, parseJsonObject, readBodyLimited } from "./http.js";
import type { RouteContext } from "./table.js";

/** The id of the event JSON built around an event-only body. */
export const TEST_EVENT_ID = "evt_test";

type Transformed = { ok: true; body: unknown } | { ok: false; error: string };

type Verdict = ({ name: string; matched: true; key: string | null; transform: Transformed | null } | { name: string; matched: false; failed: string }) & {
  hints?: string[];
};

export async function testRoutes(context: RouteContext): Promise<Response> {
  await authoriseAdmin(context.request, context.env, context.url, context.started);
  const app = configuredApp(context);
  // As large as a callback's body may be: any event the gateway accepted fits.
  const text = await readBodyLimited(context.request, MAX_BODY_BYTES);
  const body = parseJsonObject(text, "body must be a JSON object: an event as the intranet receives it, or its event object");
  const full = isPlainObject(body.event) && typeof body.id === "string";
  const event = full ? body.event : body;
  const eventJson = full ? text : testEventJson(app, text, body, new Date(context.started));

  const routed = new Map<string, Routed>(route(app.destinations, event).map((r) => [r.name, r]));
  const destinations: Verdict[] = [];
  for (const destination of app.destinations) {
    const hints = destination.match === null ? [] : matchHints(destination.match.compared);
    const hinted = hints.length > 0 ? { hints } : {};
    const hit = routed.get(destination.name);
    if (hit === undefined) {
      destinations.push({ name: destination.name, matched: false, failed: destination.match?.explain(event) ?? "the match does not hold", ...hinted });
      continue;
    }
    const transform = destination.transform === null ? null : await transformed(destination.transform, eventJson);
    destinations.push({ name: destination.name, matched: true, key: hit.key, transform, ...hinted });
  }
  const hints = eventHints(event);
  return jsonResponse({ app: app.name, input: full ? "full" : "event", destinations, matched: [...routed.keys()], ...(hints.length > 0 ? { hints } : {}) });
}

/** The app, configured and valid: a removed app has no destinations to test. */
function configuredApp(context: RouteContext): AppConfig {
  const name = context.params[0]!;
  const config = loadConfig(context.env);
  const app = config.apps.get(name);
  if (app !== undefined) return app;
  const problem = config.invalidApps.get(name);
  // The admin API names the broken field (GET /admin/apps does too); callers of /callback never see it.
  if (problem !== undefined) throw new WecomError("invalid_config", `app "${name}" is misconfigured: ${problem}`);
  throw new WecomError("unknown_app", `no app named "${name.slice(0, 64)}"`);
}

/**
 * The event JSON a JSON callback carrying `event` would give the intranet
 * (src/wecom/event.ts): the same keys in the same order, `event` spliced in
 * as given, `raw` its text.
 */
function testEventJson(app: AppConfig, text: string, event: Record<string, unknown>, now: Date): string {
  return serializeEvent({
    id: TEST_EVENT_ID,
    app: app.name,
    receiveId: app.receiveIds === "*" ? "" : (app.receiveIds[0] ?? ""),
    receivedAt: now.toISOString(),
    format: "json",
    event,
    raw: text.trim(),
  });
}

async function transformed(source: string, eventJson: string): Promise<Transformed> {
  const result = await applyTransform(source, eventJson);
  return result.ok ? { ok: true, body: JSON.parse(result.body) as unknown } : { ok: false, error: result.error };
}
