/**
 * Group commit (docs/architecture.md, "Group commit"). A queue object's
 * writes in one turn of its event loop share one implicit transaction, and
 * each transaction ends in a commit, the largest single cost of a callback.
 * Callbacks that arrive while the object is busy each wait for the same next
 * timer turn and then run one after another in it, so that their writes go
 * in one commit; each is answered once that commit is durable, as before.
 * An idle queue waits a timer turn of next to nothing.
 */
export class CommitGroup {
  private next: Promise<void> | null = null;

  /** Resolves on the next timer turn, together with every other call made before it. */
  join(): Promise<void> {
    this.next ??= new Promise<void>((resolve) =>
      setTimeout(() => {
        this.next = null;
        resolve();
      }, 0),
    );
    return this.next;
  }
}
