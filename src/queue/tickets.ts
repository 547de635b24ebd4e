/**
 * A suite's newest suite_ticket (docs/providers.md, "The latest ticket"):
 * WeCom pushes one every 10 minutes, each valid for 30, and the backend must
 * use the newest. One row per suite; a ticket older than the stored one
 * (by WeCom's TimeStamp) never replaces it. `since` is when the gateway
 * began to keep or watch for the suite's tickets: with no ticket at all, the
 * staleness alert counts from it.
 */
import type { QueueDb } from "./db.js";

/** WeCom's suite_ticket is valid for 30 minutes: older, it is stale. */
export const TICKET_VALID_SECONDS = 30 * 60;

/** What a suite_ticket callback carries. */
export interface SuiteTicket {
  readonly suiteId: string;
  readonly ticket: string;
  /** WeCom's TimeStamp, unix seconds. */
  readonly timeStamp: number;
}

/** A suite's ticket as kept: ticket and receivedAt null until the first arrives. */
export interface KeptTicket {
  readonly suiteId: string;
  readonly ticket: string | null;
  readonly timeStamp: number | null;
  /** Epoch ms. */
  readonly receivedAt: number | null;
  /** Epoch ms: when the gateway began to keep or watch for this suite's tickets. */
  readonly since: number;
}

interface Row extends Record<string, SqlStorageValue> {
  suite_id: string;
  ticket: string | null;
  time_stamp: number | null;
  received_at: number | null;
  since: number;
}

export class TicketStore {
  constructor(private readonly db: QueueDb) {}

  /** Keeps `ticket` unless the stored one is as new or newer; answers whether it was kept. */
  keep(ticket: SuiteTicket, now: number): boolean {
    const cursor = this.db.sql.exec(
      `INSERT INTO suite_tickets (suite_id, ticket, time_stamp, received_at, since) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (suite_id) DO UPDATE SET ticket = excluded.ticket, time_stamp = excluded.time_stamp, received_at = excluded.received_at
       WHERE suite_tickets.time_stamp IS NULL OR suite_tickets.time_stamp < excluded.time_stamp`,
      ticket.suiteId,
      ticket.ticket,
      ticket.timeStamp,
      now,
      now,
    );
    return cursor.rowsWritten > 0;
  }

  /** The suite's ticket as kept; a suite not yet watched starts being watched now. */
  get(suiteId: string, now: number): KeptTicket {
    const row = this.db.sql.exec<Row>("SELECT * FROM suite_tickets WHERE suite_id = ?", suiteId).toArray()[0];
    if (row !== undefined) return { suiteId, ticket: row.ticket, timeStamp: row.time_stamp, receivedAt: row.received_at, since: row.since };
    this.db.sql.exec("INSERT INTO suite_tickets (suite_id, since) VALUES (?, ?)", suiteId, now);
    return { suiteId, ticket: null, timeStamp: null, receivedAt: null, since: now };
  }
}
