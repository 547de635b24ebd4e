/**
 * A destination's health (docs/routing.md, "Health"). After HEALTH.downAfter
 * consecutive failed attempts, each of a different event, spread over at
 * least HEALTH.downAfterMs, the destination is down: its deliveries stop
 * spending attempts, and one probe at a time is tried, its interval doubling
 * from probeMinMs to probeMaxMs. The first success makes it up again.
 */
import type { DestinationState } from "./store.js";

export const HEALTH = {
  downAfter: 5,
  downAfterMs: 30_000,
  probeMinMs: 5_000,
  probeMaxMs: 300_000,
} as const;

export type HealthFields = Pick<DestinationState, "failures" | "failingSince" | "downSince">;

/**
 * The health after a failed attempt at `now`. `sameEvent`: the attempt was of
 * the event that failed last, which does not count again (one poison event
 * is that event's problem, not the destination's).
 */
export function afterFailure(state: HealthFields, now: number, sameEvent: boolean): HealthFields {
  // Only the health fields: a caller hands its whole DestinationState, and spreads what comes back.
  if (state.downSince !== null) return { failures: state.failures, failingSince: state.failingSince, downSince: state.downSince };
  const failures = sameEvent ? Math.max(state.failures, 1) : state.failures + 1;
  const failingSince = state.failingSince ?? now;
  const down = failures >= HEALTH.downAfter && now - failingSince >= HEALTH.downAfterMs;
  return { failures, failingSince, downSince: down ? now : null };
}

/** How long after the `probes`-th failed probe the next one goes. */
export function probeDelayMs(probes: number): number {
  return Math.min(HEALTH.probeMaxMs, HEALTH.probeMinMs * 2 ** Math.min(probes, 20));
}
