/**
 * A destination's `rate.perSecond` (docs/routing.md, "Rate limits"): no more
 * than perSecond deliveries start in any one-second window. The window
 * slides: the last ⌊perSecond⌋ start times are kept, and a start waits until
 * the oldest of them is a second old, so after an idle spell ⌊perSecond⌋ may
 * start at once. Below 1 per second, one start per 1/perSecond seconds.
 * Kept in memory: a restarted object starts with an empty window.
 */
export class RateWindow {
  private readonly starts: number[] = [];
  private readonly size: number;
  private readonly windowMs: number;

  constructor(perSecond: number) {
    this.size = Math.max(1, Math.floor(perSecond));
    this.windowMs = perSecond >= 1 ? 1_000 : Math.ceil(1_000 / perSecond);
  }

  /** Milliseconds until a delivery may start at `now` (0: at once). */
  wait(now: number): number {
    if (this.starts.length < this.size) return 0;
    return Math.max(0, this.starts[0]! + this.windowMs - now);
  }

  /** A delivery starts at `now`; call only when `wait(now)` is 0. */
  take(now: number): void {
    this.starts.push(now);
    if (this.starts.length > this.size) this.starts.shift();
  }
}
