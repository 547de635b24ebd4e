/**
 * The pull API (SPEC §6), for apps with `pull`: intranet consumers, which may
 * only make outbound connections, lease events and ack them.
 *
 *   POST /queue/{app}/pull  {"max": 10, "leaseSeconds": 60}  → {"events": [ … ]}
 *   POST /queue/{app}/ack   {"ids": ["…"]}                   → {"acked": n}
 */
import { appFor, loadConfig, type ConfigEnv } from "../config.js";
import { WecomError } from "../errors.js";
import { queueOf, type QueueEnv } from "../queue/client.js";
import { requireBearer } from "./auth.js";
import { idsField, intField, jsonResponse, readJsonObject } from "./http.js";

export const PULL_LIMITS = {
  max: { fallback: 10, min: 1, max: 100 },
  leaseSeconds: { fallback: 60, min: 1, max: 43_200 },
  ackIds: 1_000,
} as const;

export async function handleQueue(
  request: Request,
  env: ConfigEnv & QueueEnv,
  appName: string,
  action: "pull" | "ack",
): Promise<Response> {
  if (request.method !== "POST") throw new WecomError("method_not_allowed", "use POST");
  const app = appFor(loadConfig(env), appName);
  if (!app.pull) throw new WecomError("not_found", `app "${app.name}" has no pull queue`);
  await requireBearer(request, app.pull.token);
  const body = await readJsonObject(request);
  const queue = queueOf(env, app.name);
  if (action === "ack") {
    return jsonResponse({ acked: await queue.ack(idsField(body, "ids", PULL_LIMITS.ackIds)) });
  }
  const { max, leaseSeconds } = PULL_LIMITS;
  const events = await queue.pull(
    intField(body, "max", max.fallback, max.min, max.max),
    intField(body, "leaseSeconds", leaseSeconds.fallback, leaseSeconds.min, leaseSeconds.max),
  );
  // Each event is stored as the JSON text that a push would carry: splice, don't re-encode.
  return new Response(`{"events":[${events.join(",")}]}`, {
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}
