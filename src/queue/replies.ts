/**
 * What the reply endpoint answered each event, remembered for the dedup
 * window so that WeCom's resend gets the same reply, and asked once per
 * event id: a copy that arrives while the first copy's question is still out
 * waits for its answer (docs/replies.md, "Reply endpoint").
 */
import type { QueueDb } from "./db.js";
import { PURGE_PER_ADD } from "./events.js";

/** How long a second copy waits for the first copy's answer: WeCom waits 5 s for either. */
export const REPLY_WAIT_MS = 4_500;

export type ReplyClaim =
  /** This copy asks the endpoint, then calls `remember`. */
  | { readonly ask: true }
  /** Answered already ("" for nothing), or by the copy that asked while this one waited; undefined: no answer came in time. */
  | { readonly ask: false; readonly reply: string | undefined };

export class ReplyStore {
  /** Event ids whose question is out: since when, and the copies waiting for its answer. */
  private readonly asking = new Map<string, { readonly since: number; readonly waiting: ((reply: string | undefined) => void)[] }>();

  constructor(
    private readonly db: QueueDb,
    private readonly dedupWindowMs: number,
  ) {}

  /** The reply remembered for event `id` within the dedup window ("" for none), or undefined. */
  get(id: string, now: number): string | undefined {
    const row = this.db.sql.exec<{ reply: string; at: number }>("SELECT reply, at FROM replies WHERE id = ?", id).toArray()[0];
    return row !== undefined && row.at >= now - this.dedupWindowMs ? row.reply : undefined;
  }

  /** Decides which copy of event `id` asks the reply endpoint. */
  async claim(id: string, now: number): Promise<ReplyClaim> {
    const known = this.get(id, now);
    if (known !== undefined) return { ask: false, reply: known };
    const out = this.asking.get(id);
    // A question out for longer than any copy waits was abandoned (its Worker was cancelled, say): this copy asks.
    if (out === undefined || now - out.since > REPLY_WAIT_MS) {
      this.asking.set(id, { since: now, waiting: out?.waiting ?? [] });
      return { ask: true };
    }
    const reply = await new Promise<string | undefined>((resolve) => {
      out.waiting.push(resolve);
      setTimeout(() => resolve(undefined), REPLY_WAIT_MS);
    });
    return { ask: false, reply };
  }

  /** Remembers the reply to event `id` ("" for none; undefined: the endpoint gave none in time, nothing kept) and hands it to waiting copies. */
  remember(id: string, reply: string | undefined, now: number): void {
    const waiting = this.asking.get(id)?.waiting ?? [];
    this.asking.delete(id);
    if (reply !== undefined) {
      this.db.sql.exec("INSERT INTO replies (id, reply, at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING", id, reply, now);
      this.db.sql.exec(
        "DELETE FROM replies WHERE id IN (SELECT id FROM replies WHERE at < ? ORDER BY at LIMIT ?)",
        now - this.dedupWindowMs,
        PURGE_PER_ADD,
      );
    }
    for (const resolve of waiting) resolve(reply);
  }
}
