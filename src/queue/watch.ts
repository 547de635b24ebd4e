/**
 * The Cron Trigger's watch, beside its sweep (docs/operating.md, "Alerts"): every
 * minute, an alert for a WECOM_APPS that cannot be used or an app that is
 * misconfigured, and, when that alert is on, one call per configured app's
 * queue for the age of its oldest undelivered event, and per suite for the
 * age of its newest suite_ticket. Nothing at all when
 * alerts are off; never throws.
 */
import { invalidConfigAlert, oldestEventAlert, suiteTicketStaleAlert } from "../alerts/alerts.js";
import { currentAlerts } from "../alerts/config.js";
import { raiseAlert, type RaiseEnv } from "../alerts/raise.js";
import { loadConfig, type AppConfig, type ConfigEnv, type GatewayConfig } from "../config.js";
import { DEFAULT_DESTINATION } from "../config/destinations.js";
import { WecomError } from "../errors.js";
import { queueOf, type QueueEnv } from "./bindings.js";
import { TICKET_VALID_SECONDS } from "./tickets.js";
import { shardsOf } from "./client.js";
import { queueName } from "./shards.js";

export async function watchQueues(env: ConfigEnv & RaiseEnv & Pick<QueueEnv, "QUEUE" | "REGISTRY">): Promise<void> {
  const alerts = currentAlerts(env);
  if (!alerts) return;
  let config: GatewayConfig;
  try {
    config = loadConfig(env);
  } catch (error) {
    const problem = error instanceof WecomError ? error.message : "the configuration cannot be loaded";
    if (alerts.invalidConfig) await raiseAlert(env, invalidConfigAlert("*", problem));
    return;
  }
  const checks: Promise<unknown>[] = [];
  if (alerts.invalidConfig) {
    for (const [name, problem] of config.invalidApps) checks.push(raiseAlert(env, invalidConfigAlert(name, problem)));
  }
  const oldest = alerts.oldestEvent;
  if (oldest) for (const app of config.apps.values()) checks.push(checkOldest(env, app, oldest.minutes));
  if (alerts.suiteTicket) for (const app of config.apps.values()) if (app.suite) checks.push(checkTicket(env, app, app.suite.suiteId));
  await Promise.all(checks);
}

/** A suite without a suite_ticket for TICKET_VALID_SECONDS, counted from the last one or, with none, from when the watch began. */
async function checkTicket(env: RaiseEnv & Pick<QueueEnv, "QUEUE">, app: AppConfig, suiteId: string): Promise<void> {
  let kept;
  try {
    kept = await queueOf(env, app.name).suiteTicket(suiteId);
  } catch {
    return; // asked again in a minute
  }
  const ageSeconds = Math.floor((Date.now() - (kept.receivedAt ?? kept.since)) / 1000);
  if (ageSeconds <= TICKET_VALID_SECONDS) return;
  await raiseAlert(env, suiteTicketStaleAlert(app.name, suiteId, ageSeconds, kept.receivedAt === null));
}

async function checkOldest(env: RaiseEnv & Pick<QueueEnv, "QUEUE" | "REGISTRY">, app: AppConfig, minutes: number): Promise<void> {
  let shards;
  try {
    shards = await shardsOf(env, app);
  } catch {
    return; // asked again in a minute
  }
  // Each shard's queue on its own (docs/sharding.md): an alert names the shard's queue (`hr.3`) for an app of several.
  await Promise.all(shards.map((shard) => checkQueueOldest(env, app, queueName(app.name, shard), minutes)));
}

async function checkQueueOldest(env: RaiseEnv & Pick<QueueEnv, "QUEUE">, app: AppConfig, queue: string, minutes: number): Promise<void> {
  let backlog;
  try {
    backlog = await queueOf(env, queue).backlog();
  } catch {
    return; // a queue that cannot answer now is asked again in a minute
  }
  for (const { destination, mode, oldestAgeSeconds, depth, paused } of backlog) {
    if (oldestAgeSeconds === null || oldestAgeSeconds <= minutes * 60) continue;
    // An app's one `default` destination is the app (alerts as before 0.4).
    const named = app.destinations.length === 1 && destination === DEFAULT_DESTINATION ? undefined : destination;
    await raiseAlert(env, oldestEventAlert(queue, mode, oldestAgeSeconds, minutes, depth, paused, named));
  }
}
