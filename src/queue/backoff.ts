/**
 * When to try a failed push again: exponential backoff from minBackoffMs,
 * doubling per attempt up to maxBackoffMs, with "equal jitter" (a random
 * point in the upper half of the step) so that a recovering webhook is not
 * hit by every event at once. A Retry-After from the webhook is honoured:
 * the next attempt is never earlier than it asks (capped at one day).
 */
export interface BackoffSettings {
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
}

export const MAX_RETRY_AFTER_MS = 86_400_000;

export function backoffMs(
  settings: BackoffSettings,
  attempts: number,
  retryAfterSeconds?: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 40);
  const step = Math.min(settings.maxBackoffMs, settings.minBackoffMs * 2 ** exponent);
  const jittered = Math.max(settings.minBackoffMs, Math.round(step / 2 + (random() * step) / 2));
  if (retryAfterSeconds === undefined) return jittered;
  return Math.max(jittered, Math.min(retryAfterSeconds * 1000, MAX_RETRY_AFTER_MS));
}
