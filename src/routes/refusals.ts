/**
 * Recent refusals (README, "Admin API"): a callback refused with a 4xx, for
 * an app that exists, is kept in the app's queue object with its code,
 * reason and a hint, never its plaintext or a secret. Kept off the answer's
 * path (waitUntil), and at most REFUSALS_PER_WINDOW per app per window in
 * each isolate, so that a flood of forged callbacks costs at most that many
 * writes.
 */
import type { AppConfig } from "../config.js";
import { statusOf, WecomError } from "../errors.js";
import { queueOf } from "../queue/bindings.js";
import { hintFor } from "../wecom/hints.js";
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
      const refusal = { at: context.started, method: context.request.method, code: String(error.code), reason, hint: hintFor(error.code) };
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
