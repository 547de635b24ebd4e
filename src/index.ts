/**
 * wecom-edge: WeCom's trusted callback URL at the edge. docs/architecture.md, "Routes and answers".
 *
 *   GET  /callback/{app}             URL verification (echostr)
 *   POST /callback/{app}             messages and events → the app's queue
 *   POST /queue/{app}/pull|ack|nack  pull API for apps with `pull`
 *   /admin/apps/…                    admin API (ADMIN_TOKEN)
 *   GET  /healthz                    200 while the configuration can serve
 *
 * Every minute a Cron Trigger hands changed app settings to their queues
 * (docs/operating.md, "Configuration changes"), so that a queue switched from pull to
 * push starts pushing with no traffic; and, with WECOM_ALERTS, watches for
 * what should raise an alert (docs/operating.md, "Alerts").
 */
import { sweepQueues } from "./queue/sweep.js";
import { watchQueues } from "./queue/watch.js";
import { dispatch } from "./routes/table.js";
import type { WorkerEnv } from "./env.js";

export { AlertOutbox } from "./alerts/outbox.js";
export { AppQueue } from "./queue/app-queue.js";
export { QueueRegistry } from "./queue/registry.js";
export type { Secrets, WorkerEnv } from "./env.js";

export default {
  fetch(request, env, ctx): Promise<Response> {
    return dispatch(request, env, ctx);
  },
  async scheduled(_controller, env): Promise<void> {
    // The watch raises alerts (docs/operating.md, "Alerts"); it never throws, so the sweep's outcome is the invocation's.
    await Promise.all([sweepQueues(env), watchQueues(env)]);
  },
} satisfies ExportedHandler<WorkerEnv>;
