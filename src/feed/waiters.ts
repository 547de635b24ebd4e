/**
 * Long-poll (docs/feed.md, "Long-poll"): pulls that found nothing to lease
 * wait here, per destination, until the queue says something may be due
 * (a commit, a release, a nack) or their time runs out. Nothing polls: a
 * waiting pull costs a timer and a closure.
 */

/** Pulls that may wait on one destination at once; a further one answers at once, as with waitSeconds 0. */
export const MAX_WAITERS = 64;

/** How long a cancel that came before its pull is kept. */
const CANCEL_KEPT_MS = 60_000;

export class Waiters {
  private readonly waiting = new Map<string, Set<() => void>>();
  /** Long-polls whose client went away (by the Worker's wait id), and until when each is kept. */
  private readonly cancelled = new Map<string, number>();
  /** How to wake the pull of each wait id while it waits. */
  private readonly wakers = new Map<string, () => void>();

  /** Whether another pull may wait on destination `name`. */
  room(name: string): boolean {
    return (this.waiting.get(name)?.size ?? 0) < MAX_WAITERS;
  }

  /** The client of wait `id` went away: its pull stops waiting and leases nothing. */
  cancel(id: string, now: number): void {
    for (const [old, until] of this.cancelled) if (until < now) this.cancelled.delete(old);
    this.cancelled.set(id, now + CANCEL_KEPT_MS);
    this.wakers.get(id)?.();
  }

  isCancelled(id: string | undefined): boolean {
    return id !== undefined && this.cancelled.has(id);
  }

  /** Resolves when `notify(name)` is called, when wait `id` is cancelled, or at `until` (epoch ms), whichever comes first. */
  wait(name: string, until: number, id?: string): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiting.get(name);
      if (!set) this.waiting.set(name, (set = new Set()));
      const waiting = set;
      const done = (): void => {
        clearTimeout(timer);
        if (id !== undefined) this.wakers.delete(id);
        waiting.delete(done);
        if (waiting.size === 0 && this.waiting.get(name) === waiting) this.waiting.delete(name);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, until - Date.now()));
      waiting.add(done);
      if (id !== undefined) this.wakers.set(id, done);
    });
  }

  /** Wakes every pull waiting on `name`: each tries again, and those that get nothing wait on. */
  notify(name: string): void {
    const set = this.waiting.get(name);
    if (set) for (const done of [...set]) done();
  }
}
