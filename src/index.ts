/**
 * wecom-edge: WeCom's trusted callback URL at the edge. README: "Routes".
 *
 *   GET  /callback/{app}             URL verification (echostr)
 *   POST /callback/{app}             messages and events → the app's queue
 *   POST /queue/{app}/pull|ack|nack  pull API for apps with `pull`
 *   /admin/apps/…                    admin API (ADMIN_TOKEN)
 *   GET  /healthz                    200 while the configuration can serve
 *
 * Every minute a Cron Trigger hands changed app settings to their queues
 * (README, "Configuration changes"), so that a queue switched from pull to
 * push starts pushing with no traffic.
 */
import { sweepQueues } from "./queue/sweep.js";
import { dispatch } from "./routes/table.js";
import type { WorkerEnv } from "./env.js";

export { AppQueue } from "./queue/app-queue.js";
export { QueueRegistry } from "./queue/registry.js";
export type { Secrets, WorkerEnv } from "./env.js";

export default {
  fetch(request, env, ctx): Promise<Response> {
    return dispatch(request, env, ctx);
  },
  async scheduled(_controller, env): Promise<void> {
    await sweepQueues(env);
  },
} satisfies ExportedHandler<WorkerEnv>;
