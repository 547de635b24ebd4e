/**
 * How the rest of the gateway raises an alert (README, "Alerts"). A no-op,
 * with no Durable Object call, when WECOM_ALERTS is unset or invalid or the
 * alert is off; and it swallows every error: an alert never fails the thing
 * that raised it.
 */
import { logAlert } from "../log.js";
import type { Alert } from "./alerts.js";
import { currentAlerts, isOn, type AlertsEnv } from "./config.js";
import type { AlertOutbox, RaiseResult } from "./outbox.js";

export interface RaiseEnv extends AlertsEnv {
  ALERTS: DurableObjectNamespace<AlertOutbox>;
}

/** The one outbox. */
export function outboxOf(env: Pick<RaiseEnv, "ALERTS">): DurableObjectStub<AlertOutbox> {
  return env.ALERTS.getByName("alerts");
}

export async function raiseAlert(env: RaiseEnv, alert: Alert): Promise<RaiseResult> {
  try {
    const config = currentAlerts(env);
    if (!config || !isOn(config, alert.kind)) return "off";
    return await outboxOf(env).raise(alert);
  } catch (error) {
    logAlert({ outcome: "raise_failed", kind: alert.kind, app: alert.app, detail: error instanceof Error ? error.name : "unknown error" });
    return "off";
  }
}
