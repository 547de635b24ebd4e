/**
 * AI-bot streams (docs/replies.md, "AI-bot streams"): what each stream shows
 * WeCom's refreshes, until the intranet finishes it or it times out. Their
 * bytes count toward the app's totals, and streams gone for longer than
 * STREAM_KEEP_MS leave, a few with each new one and the rest by the alarm.
 */
import { encodeUtf8 } from "../lib/bytes.js";
import type { QueueDb } from "./db.js";
import { PURGE_PER_ADD, type EventStore } from "./events.js";

/** A stream is kept this long past its timeout: WeCom stops refreshing 6 minutes after the message. */
export const STREAM_KEEP_MS = 10 * 60 * 1000;

/** Expired streams the alarm drops at once. */
export const STREAM_PURGE_BATCH = 100;

export type StoredStream = {
  readonly id: string;
  readonly content: string;
  readonly finish: 0 | 1;
  readonly msgItem: string | null;
  readonly expiresAt: number;
  /** 0 while the stream still shows the placeholder. */
  readonly answered: 0 | 1;
  readonly timedOut: 0 | 1;
  readonly size: number;
};

export class StreamStore {
  constructor(
    private readonly db: QueueDb,
    private readonly events: EventStore,
  ) {}

  /** Opens a stream showing `content` until `expiresAt`, unless it is open already (a resend). */
  open(id: string, content: string, expiresAt: number, now: number): void {
    this.db.transaction(() => {
      const size = encodeUtf8(content).length;
      const opened = this.db.sql
        .exec(
          "INSERT INTO streams (id, content, finish, expires_at, size) VALUES (?, ?, 0, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING 1",
          id,
          content,
          expiresAt,
          size,
        )
        .toArray().length;
      if (opened > 0) this.events.count({ streamBytes: size });
      this.purge(now, PURGE_PER_ADD);
    });
  }

  get(id: string): StoredStream | undefined {
    return this.db.sql
      .exec<StoredStream>(
        "SELECT id, content, finish, msg_item AS msgItem, expires_at AS expiresAt, answered, timed_out AS timedOut, size FROM streams WHERE id = ?",
        id,
      )
      .toArray()[0];
  }

  /** The intranet's content (or, with `timedOut`, the gateway's last word) replaces what the stream showed. */
  update(stream: StoredStream, content: string, finish: boolean, msgItem: string | null, timedOut = false): void {
    const size = encodeUtf8(content).length + (msgItem === null ? 0 : encodeUtf8(msgItem).length);
    this.db.transaction(() => {
      this.db.sql.exec(
        "UPDATE streams SET content = ?, finish = ?, msg_item = ?, answered = 1, timed_out = ?, size = ? WHERE id = ?",
        content,
        finish ? 1 : 0,
        msgItem,
        timedOut ? 1 : 0,
        size,
        stream.id,
      );
      this.events.count({ streamBytes: size - stream.size });
    });
  }

  /** Drops up to `max` streams gone for longer than STREAM_KEEP_MS; answers how many went. */
  purge(now: number, max: number): number {
    return this.db.transaction(() => {
      let n = 0;
      let bytes = 0;
      for (const row of this.db.sql.exec<{ size: number }>(
        "DELETE FROM streams WHERE id IN (SELECT id FROM streams WHERE expires_at < ? ORDER BY expires_at LIMIT ?) RETURNING size",
        now - STREAM_KEEP_MS,
        max,
      )) {
        n++;
        bytes += row.size;
      }
      this.events.count({ streamBytes: -bytes });
      return n;
    });
  }

  /** When the next stream can be dropped (epoch ms), or null when none is held. */
  nextExpiry(): number | null {
    const row = this.db.sql.exec<{ at: number }>("SELECT expires_at AS at FROM streams ORDER BY expires_at LIMIT 1").toArray()[0];
    return row === undefined ? null : row.at + STREAM_KEEP_MS;
  }

  countRefresh(): void {
    this.events.count({ refreshes: 1 });
  }
}
