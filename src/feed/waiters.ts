/**
 * Long-poll (docs/feed.md, "Long-poll"): pulls that found nothing to lease
 * wait here, per destination, until the queue says something may be due
 * (a commit, a release, a nack) or their time runs out. Nothing polls: a
 * waiting pull costs a timer and a closure.
 */

/** Pulls that may wait on one destination at once; a further one answers at once, as with waitSeconds 0. */
export const MAX_WAITERS = 64;

export class Waiters {
  private readonly waiting = new Map<string, Set<() => void>>();

  /** Whether another pull may wait on destination `name`. */
  room(name: string): boolean {
    return (this.waiting.get(name)?.size ?? 0) < MAX_WAITERS;
  }

  /** Resolves when `notify(name)` is called, or at `until` (epoch ms), whichever comes first. */
  wait(name: string, until: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiting.get(name);
      if (!set) this.waiting.set(name, (set = new Set()));
      const waiting = set;
      const done = (): void => {
        clearTimeout(timer);
        waiting.delete(done);
        if (waiting.size === 0 && this.waiting.get(name) === waiting) this.waiting.delete(name);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, until - Date.now()));
      waiting.add(done);
    });
  }

  /** Wakes every pull waiting on `name`: each tries again, and those that get nothing wait on. */
  notify(name: string): void {
    const set = this.waiting.get(name);
    if (set) for (const done of [...set]) done();
  }
}
