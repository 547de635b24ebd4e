/**
 * 微信客服 (docs/kf.md), per OpenKfId: the newest kf_msg_or_event Token
 * (valid 10 minutes) and when it came, the intranet's sync_msg cursor (set by
 * compare-and-set), and which held event later callbacks fold into while it
 * is undelivered. One row per 客服 account: the table is as small as the
 * company's accounts, never as large as its backlog.
 */
import type { QueueDb } from "./db.js";

/** What a kf_msg_or_event callback carries. */
export interface KfCallback {
  readonly openKfId: string;
  readonly token: string;
}

/** One 客服 account as kept. */
export interface KfAccount {
  readonly openKfId: string;
  /** The newest callback's Token; null before the first. */
  readonly token: string | null;
  /** Epoch ms; null before the first callback. */
  readonly receivedAt: number | null;
  readonly cursor: string | null;
}

interface Row extends Record<string, SqlStorageValue> {
  token: string | null;
  received_at: number | null;
  cursor: string | null;
  pending_seq: number | null;
  pending_n: number;
}

export class KfStore {
  /**
   * Accounts whose held event was committed in this life of the object. A
   * push attempt is claimed in memory only (DeliveryStore.claim), so an
   * event held before a restart may have been pushed already: nothing folds
   * into it, and the next callback is an event of its own.
   */
  private readonly heldNow = new Set<string>();

  constructor(private readonly db: QueueDb) {}

  /**
   * Keeps the newest Token of `callback.openKfId` (a callback received
   * earlier never replaces a later one's); answers the held event later
   * callbacks fold into, if any, and how many callbacks it stands for.
   */
  received(callback: KfCallback, receivedAt: number): { seq: number; n: number } | null {
    const row = this.db.sql.exec<Row>("SELECT token, received_at, cursor, pending_seq, pending_n FROM kf_accounts WHERE open_kfid = ?", callback.openKfId).toArray()[0];
    if (row === undefined) {
      this.db.sql.exec("INSERT INTO kf_accounts (open_kfid, token, received_at) VALUES (?, ?, ?)", callback.openKfId, callback.token, receivedAt);
      return null;
    }
    if (row.received_at === null || row.received_at <= receivedAt) {
      this.db.sql.exec("UPDATE kf_accounts SET token = ?, received_at = ? WHERE open_kfid = ?", callback.token, receivedAt, callback.openKfId);
    }
    return row.pending_seq === null || !this.heldNow.has(callback.openKfId) ? null : { seq: row.pending_seq, n: row.pending_n };
  }

  /** Later callbacks of `openKfId` fold into event `seq`, which stands for `n` callbacks, while it is undelivered. */
  holding(openKfId: string, seq: number, n: number): void {
    this.heldNow.add(openKfId);
    this.db.sql.exec("UPDATE kf_accounts SET pending_seq = ?, pending_n = ? WHERE open_kfid = ?", seq, n, openKfId);
  }

  /** One more callback of `openKfId` folded into its held event, which now stands for `n`. */
  folded(openKfId: string, n: number): void {
    this.db.sql.exec("UPDATE kf_accounts SET pending_n = ?, coalesced = coalesced + 1 WHERE open_kfid = ?", n, openKfId);
  }

  get(openKfId: string): KfAccount | null {
    const row = this.db.sql.exec<Row>("SELECT token, received_at, cursor, pending_seq, pending_n FROM kf_accounts WHERE open_kfid = ?", openKfId).toArray()[0];
    return row === undefined ? null : { openKfId, token: row.token, receivedAt: row.received_at, cursor: row.cursor };
  }

  /**
   * Sets the cursor of `openKfId` to `cursor` if it is still `expected`
   * (null: none yet). Answers whether it was set, and the cursor now. One
   * synchronous step of the object: no other request comes between the read
   * and the write.
   */
  setCursor(openKfId: string, cursor: string, expected: string | null): { set: boolean; cursor: string | null } {
    const row = this.db.sql.exec<{ cursor: string | null }>("SELECT cursor FROM kf_accounts WHERE open_kfid = ?", openKfId).toArray()[0];
    const current = row?.cursor ?? null;
    if (current !== expected) return { set: false, cursor: current };
    if (row === undefined) this.db.sql.exec("INSERT INTO kf_accounts (open_kfid, cursor) VALUES (?, ?)", openKfId, cursor);
    else this.db.sql.exec("UPDATE kf_accounts SET cursor = ? WHERE open_kfid = ?", cursor, openKfId);
    return { set: true, cursor };
  }

  /** Callbacks folded into held events, over every account (as few rows as accounts). */
  coalesced(): number {
    return this.db.sql.exec<{ n: number }>("SELECT COALESCE(SUM(coalesced), 0) AS n FROM kf_accounts").one().n;
  }
}
