/**
 * Who may use the admin API (docs/operating.md, "Admin token"): ADMIN_TOKEN
 * as a bearer token, compared in constant time. The token has the shape of
 * the other bearer tokens (16-512 visible ASCII characters), or the admin
 * API stays off. Failed attempts are limited per client in each isolate:
 * after ADMIN_LOGIN_LIMITS.failures within a window, every attempt from
 * that client, right or wrong, is answered 429 until the window ends, so a
 * guess tells nothing while it lasts.
 */
import { BEARER_TOKEN } from "../config.js";
import type { WorkerEnv } from "../env.js";
import { WecomError } from "../errors.js";
import { requireBearer } from "./auth.js";

export const ADMIN_LOGIN_LIMITS = {
  failures: 10,
  windowMs: 60_000,
  /** Clients tracked at once; past that the oldest is forgotten. */
  clients: 1_000,
} as const;

const failures = new Map<string, { start: number; count: number }>();

export async function authoriseAdmin(request: Request, env: WorkerEnv, url: URL, now: number): Promise<void> {
  const token = env.ADMIN_TOKEN;
  if (!token) {
    throw new WecomError(
      "not_configured",
      isLocal(url)
        ? "the admin API is off: ADMIN_TOKEN is not set; add a line ADMIN_TOKEN=<16-512 visible characters> to .dev.vars and restart wrangler dev"
        : "the admin API is off: ADMIN_TOKEN is not set; set it with `npx wrangler secret put ADMIN_TOKEN` (16-512 visible characters)",
    );
  }
  if (!BEARER_TOKEN.test(token)) {
    throw new WecomError("invalid_config", "the admin API is off: ADMIN_TOKEN must be 16-512 visible ASCII characters (use a long random string)");
  }
  const client = request.headers.get("cf-connecting-ip") ?? "unknown";
  const window = failures.get(client);
  if (window && now - window.start < ADMIN_LOGIN_LIMITS.windowMs && window.count >= ADMIN_LOGIN_LIMITS.failures) {
    throw new WecomError("too_many_requests", "too many failed admin logins: wait a minute");
  }
  try {
    await requireBearer(request, token);
  } catch (error) {
    countFailure(client, now);
    throw error;
  }
  failures.delete(client);
}

function countFailure(client: string, now: number): void {
  const window = failures.get(client);
  if (window && now - window.start < ADMIN_LOGIN_LIMITS.windowMs) {
    window.count++;
    return;
  }
  failures.delete(client);
  if (failures.size >= ADMIN_LOGIN_LIMITS.clients) failures.delete(failures.keys().next().value!);
  failures.set(client, { start: now, count: 1 });
}

/** `wrangler dev` and other local runs: the advice names .dev.vars, not `wrangler secret put`. */
function isLocal(url: URL): boolean {
  return url.hostname === "localhost" || url.hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}
