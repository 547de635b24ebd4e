/**
 * How the rest of the gateway raises an alert (docs/operating.md, "Alerts"). A no-op,
 * with no Durable Object call, when WECOM_ALERTS is unset or invalid or the
 * alert is off; and it swallows every error: an alert never fails the thing
 * that raised it.
 */
import { logAlert } from "../log.js";
import { alertSubject, type Alert } from "./alerts.js";
import { currentAlerts, isOn, type AlertsEnv } from "./config.js";
import type { AlertOutbox, RaiseResult } from "./outbox.js";

export interface RaiseEnv extends AlertsEnv {
  ALERTS: DurableObjectNamespace<AlertOutbox>;
}

/** The one outbox. */
export function outboxOf(env: Pick<RaiseEnv, "ALERTS">): DurableObjectStub<AlertOutbox> {
  return env.ALERTS.getByName("alerts");
}

/** `suppressedBefore`: alerts of this kind and app held back by the caller without asking (AlertGate). */
export async function raiseAlert(env: RaiseEnv, alert: Alert, suppressedBefore = 0): Promise<RaiseResult> {
  try {
    const config = currentAlerts(env);
    if (!config || !isOn(config, alert.kind)) return "off";
    return await outboxOf(env).raise(alert, suppressedBefore);
  } catch (error) {
    logAlert({ outcome: "raise_failed", kind: alert.kind, app: alert.app, detail: error instanceof Error ? error.name : "unknown error" });
    return "off";
  }
}

/** What a gate knows of one kind and app. */
interface Gated {
  /** When the outbox last answered "queued" (this object's clock, taken before the call), or null. */
  queuedAt: number | null;
  /** Raises held back here since, not yet told to the outbox. */
  held: number;
  /** A call to the outbox is under way: the raises meanwhile wait for its answer, counted. */
  calling: boolean;
}

/**
 * A raiser's memory of the outbox's rate limit, for one that raises often
 * (an app's queue, per refused callback in a flood): within
 * minIntervalMinutes of an alert the outbox queued, and while a call is
 * under way, a raise of the same kind and app is held back here, with no
 * call, and counted; the count goes with the next call (suppressedBefore),
 * so the outbox's `suppressed` stays exact. The memory is the object's:
 * an eviction forgets it, and then the outbox's own rate limit holds (the
 * few held back here since the last call go uncounted).
 */
export class AlertGate {
  private readonly gated = new Map<string, Gated>();

  async raise(env: RaiseEnv, alert: Alert): Promise<RaiseResult> {
    const config = currentAlerts(env);
    if (!config || !isOn(config, alert.kind)) return "off";
    const key = `${alert.kind}\n${alertSubject(alert)}`;
    let gated = this.gated.get(key);
    if (!gated) {
      gated = { queuedAt: null, held: 0, calling: false };
      this.gated.set(key, gated);
    }
    const now = Date.now();
    if (gated.calling || (gated.queuedAt !== null && now - gated.queuedAt < config.minIntervalMinutes * 60_000)) {
      gated.held++;
      return "suppressed";
    }
    const held = gated.held;
    gated.held = 0;
    gated.calling = true;
    let result: RaiseResult;
    try {
      result = await raiseAlert(env, alert, held);
    } finally {
      gated.calling = false;
    }
    if (result === "queued") gated.queuedAt = now;
    // Neither queued nor counted by the outbox (off, full, or the call failed): still to be told.
    else if (result !== "suppressed") gated.held += held;
    return result;
  }
}
