/**
 * Recent refusals (docs/operating.md, "Recent refusals"): a callback refused
 * with a 4xx is kept in its app's queue object (callbacks to app names that
 * are not configured: in the one under "*") with its code,
 * reason and a hint, never its plaintext or a secret. Kept off the answer's
 * path (waitUntil), and at most REFUSALS_PER_WINDOW per app per window in
 * each isolate, so that a flood of forged callbacks costs at most that many
 * writes.
 */
import { UNKNOWN_APPS, type AppConfig } from "../config.js";
import { statusOf, WecomError } from "../errors.js";
import { queueOf } from "../queue/bindings.js";
import { hintFor, UNKNOWN_APP_HINT } from "../wecom/hints.js";
import type { RouteContext } from "./table.js";

export const REFUSALS_PER_WINDOW = 20;
const WINDOW_MS = 10_000;

const windows = new Map<string, { start: number; count: number }>();

/** Runs a callback's handling for `app`, keeping a refusal it ends in. */
export async function keepingRefusals(context: RouteContext, app: AppConfig, handle: () => Promise<Response>): Promise<Response> {
  try {
    return await handle();
  } catch (error) {
    if (error instanceof WecomError && statusOf(error.code) < 500 && admit(app.name, context.started)) {
      const reason = error.detail === undefined ? error.message : `${error.message}: ${error.detail}`;
      const refusal = { at: context.started, method: context.request.method, code: String(error.code), reason, hint: app.name === UNKNOWN_APPS ? UNKNOWN_APP_HINT : hintFor(error.code) };
      context.ctx.waitUntil(queueOf(context.env, app.name).recordRefusal(refusal).catch(() => {}));
    }
    throw error;
  }
}

function admit(app: string, now: number): boolean {
  const window = windows.get(app);
  if (!window || now - window.start >= WINDOW_MS) {
    windows.set(app, { start: now, count: 1 });
    return true;
  }
  window.count++;
  return window.count <= REFUSALS_PER_WINDOW;
}
