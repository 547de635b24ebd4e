/**
 * The Cron Trigger's sweep: tells the registry every configured app's live
 * settings; the registry passes on only what changed. One Durable Object
 * call a minute when nothing changed.
 */
import { loadConfig, type ConfigEnv } from "../config.js";
import { logSweep } from "../log.js";
import { registryOf, type QueueEnv } from "./bindings.js";
import { encodeSettings } from "./settings.js";

export async function sweepQueues(env: ConfigEnv & Pick<QueueEnv, "REGISTRY">): Promise<number> {
  let config;
  try {
    config = loadConfig(env);
  } catch {
    // Nothing to compare with: every queue keeps the settings it last had.
    logSweep({ synced: 0, detail: "the configuration cannot be loaded; queues keep their last settings" });
    return 0;
  }
  const live: Record<string, string> = {};
  for (const app of config.apps.values()) live[app.name] = encodeSettings(app);
  const synced = await registryOf(env).sweep(live);
  if (synced > 0) logSweep({ synced });
  return synced;
}
