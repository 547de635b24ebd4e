/**
 * The queue's SQLite schema, as migrations from an empty database (v0) or
 * any earlier wecom-edge, applied in one transaction when the object wakes.
 * docs/architecture.md, "Storage schema" lists the tables as v12 leaves them.
 */
export const SCHEMA_VERSION = 12;

/**
 * v1 is the schema of wecom-edge 0.1 (events, seen, meta). v2 adds the lease
 * column, the counters row and the (state, seq) index, and filling the
 * counters is one of the two full reads this queue ever makes; 0.1's `mode`
 * and `webhook` meta become the `settings` that 0.2 hands over. v7 (0.4) is
 * the other: each event's delivery state moves to `deliveries`, one row per
 * destination, and the event row keeps only what is stored once.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS events (
     seq          INTEGER PRIMARY KEY AUTOINCREMENT,
     id           TEXT    NOT NULL UNIQUE,
     body         TEXT    NOT NULL,
     size         INTEGER NOT NULL,
     received_at  INTEGER NOT NULL,
     state        TEXT    NOT NULL CHECK (state IN ('queued', 'dead')),
     attempts     INTEGER NOT NULL DEFAULT 0,
     available_at INTEGER NOT NULL,
     last_error   TEXT
   );
   CREATE INDEX IF NOT EXISTS events_ready ON events (state, available_at, seq);
   CREATE TABLE IF NOT EXISTS seen (
     id      TEXT    PRIMARY KEY,
     seen_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX IF NOT EXISTS seen_by_time ON seen (seen_at);
   CREATE TABLE IF NOT EXISTS meta (
     key   TEXT PRIMARY KEY,
     value TEXT NOT NULL
   ) WITHOUT ROWID;`,
  `ALTER TABLE events ADD COLUMN lease TEXT;
   CREATE INDEX events_by_seq ON events (state, seq);
   CREATE TABLE counters (
     one        INTEGER PRIMARY KEY CHECK (one = 1),
     live       INTEGER NOT NULL,
     live_bytes INTEGER NOT NULL,
     dead       INTEGER NOT NULL,
     dead_bytes INTEGER NOT NULL,
     delivered  INTEGER NOT NULL
   );
   INSERT INTO counters
     SELECT 1,
            COALESCE(SUM(state = 'queued'), 0), COALESCE(SUM(CASE WHEN state = 'queued' THEN size END), 0),
            COALESCE(SUM(state = 'dead'), 0),   COALESCE(SUM(CASE WHEN state = 'dead' THEN size END), 0),
            COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'delivered'), 0)
     FROM events;
   INSERT INTO meta (key, value)
     SELECT 'settings', json_object('mode', 'push', 'webhook', json(value)) FROM meta
     WHERE key = 'webhook' AND EXISTS (SELECT 1 FROM meta WHERE key = 'mode' AND value = 'push');
   INSERT INTO meta (key, value)
     SELECT 'settings', json_object('mode', 'pull', 'maxAttempts', 20) FROM meta WHERE key = 'mode' AND value = 'pull';
   DELETE FROM meta WHERE key IN ('delivered', 'mode', 'webhook');`,
  `CREATE TABLE replies (
     id    TEXT    PRIMARY KEY,
     reply TEXT    NOT NULL,
     at    INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX replies_by_time ON replies (at);`,
  `CREATE TABLE streams (
     id         TEXT    PRIMARY KEY,
     content    TEXT    NOT NULL,
     finish     INTEGER NOT NULL,
     msg_item   TEXT,
     expires_at INTEGER NOT NULL,
     answered   INTEGER NOT NULL DEFAULT 0,
     timed_out  INTEGER NOT NULL DEFAULT 0
   ) WITHOUT ROWID;
   CREATE INDEX streams_by_expiry ON streams (expires_at);
   ALTER TABLE counters ADD COLUMN refreshes INTEGER NOT NULL DEFAULT 0;`,
  `CREATE TABLE credentials (
     id        TEXT    PRIMARY KEY,
     callbacks INTEGER NOT NULL,
     last_at   INTEGER NOT NULL
   ) WITHOUT ROWID;`,
  `CREATE TABLE refusals (
     seq    INTEGER PRIMARY KEY AUTOINCREMENT,
     at     INTEGER NOT NULL,
     method TEXT    NOT NULL,
     code   TEXT    NOT NULL,
     reason TEXT    NOT NULL,
     hint   TEXT    NOT NULL
   );`,
  // v7. An event is stored once (`pending`: its deliveries not yet finished);
  // each destination it matched has a delivery row. `held`: an ordered
  // destination's event waiting for an earlier one of its key. `pushing`: a
  // push attempt is in flight, so that a restarted object retries it at once.
  // The one implicit destination of 0.3 becomes `default`, with its counters,
  // pause and last error; the event rows are copied into a table without the
  // delivery columns, their seq (and the AUTOINCREMENT high mark) kept.
  `CREATE TABLE deliveries (
     dest         TEXT    NOT NULL,
     seq          INTEGER NOT NULL,
     state        TEXT    NOT NULL CHECK (state IN ('queued', 'held', 'dead')),
     attempts     INTEGER NOT NULL DEFAULT 0,
     available_at INTEGER NOT NULL,
     lease        TEXT,
     last_error   TEXT,
     order_key    TEXT,
     pushing      INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (dest, seq)
   ) WITHOUT ROWID;
   CREATE INDEX deliveries_due ON deliveries (dest, state, available_at, seq);
   CREATE INDEX deliveries_by_key ON deliveries (dest, order_key, seq) WHERE state <> 'dead';
   CREATE INDEX deliveries_live ON deliveries (dest, seq) WHERE state <> 'dead';
   CREATE INDEX deliveries_pushing ON deliveries (dest, seq) WHERE pushing = 1;
   INSERT INTO deliveries (dest, seq, state, attempts, available_at, lease, last_error)
     SELECT 'default', seq, state, attempts, available_at, lease, last_error FROM events;
   CREATE TABLE destinations (
     name            TEXT    PRIMARY KEY,
     live            INTEGER NOT NULL DEFAULT 0,
     dead            INTEGER NOT NULL DEFAULT 0,
     delivered       INTEGER NOT NULL DEFAULT 0,
     paused          INTEGER NOT NULL DEFAULT 0,
     last_error      TEXT,
     last_error_at   INTEGER,
     last_delivered  INTEGER,
     down_since      INTEGER,
     failures        INTEGER NOT NULL DEFAULT 0,
     failing_since   INTEGER
   ) WITHOUT ROWID;
   INSERT INTO destinations (name, live, dead, delivered, paused, last_error, last_error_at, last_delivered)
     SELECT 'default', c.live, c.dead, c.delivered,
            EXISTS (SELECT 1 FROM meta WHERE key = 'paused' AND value = '1'),
            (SELECT json_extract(value, '$.message') FROM meta WHERE key = 'last_error'),
            (SELECT CAST(strftime('%s', json_extract(value, '$.at')) AS INTEGER) * 1000 FROM meta WHERE key = 'last_error'),
            (SELECT CAST(strftime('%s', value) AS INTEGER) * 1000 FROM meta WHERE key = 'last_delivered')
     FROM counters c WHERE c.live + c.dead + c.delivered > 0 OR EXISTS (SELECT 1 FROM meta WHERE key = 'settings');
   DELETE FROM meta WHERE key IN ('paused', 'last_error', 'last_delivered');
   CREATE TABLE events_v7 (
     seq         INTEGER PRIMARY KEY AUTOINCREMENT,
     id          TEXT    NOT NULL UNIQUE,
     body        TEXT    NOT NULL,
     size        INTEGER NOT NULL,
     received_at INTEGER NOT NULL,
     pending     INTEGER NOT NULL
   );
   INSERT INTO events_v7 (seq, id, body, size, received_at, pending) SELECT seq, id, body, size, received_at, 1 FROM events;
   INSERT INTO sqlite_sequence (name, seq) SELECT 'events_v7', seq FROM sqlite_sequence WHERE name = 'events'
     AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events_v7');
   UPDATE sqlite_sequence SET seq = MAX(seq, (SELECT seq FROM sqlite_sequence WHERE name = 'events'))
     WHERE name = 'events_v7' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events');
   DROP TABLE events;
   ALTER TABLE events_v7 RENAME TO events;
   CREATE TABLE totals (
     one          INTEGER PRIMARY KEY CHECK (one = 1),
     events       INTEGER NOT NULL,
     bytes        INTEGER NOT NULL,
     refreshes    INTEGER NOT NULL,
     stream_bytes INTEGER NOT NULL
   );
   INSERT INTO totals SELECT 1, live + dead, live_bytes + dead_bytes, refreshes, 0 FROM counters;
   DROP TABLE counters;
   ALTER TABLE totals RENAME TO counters;
   ALTER TABLE streams ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
   UPDATE streams SET size = length(CAST(content AS BLOB)) + COALESCE(length(CAST(msg_item AS BLOB)), 0);
   UPDATE counters SET stream_bytes = (SELECT COALESCE(SUM(size), 0) FROM streams);
   CREATE TABLE unrouted (
     kind TEXT    PRIMARY KEY,
     n    INTEGER NOT NULL
   ) WITHOUT ROWID;`,
  // v8. The WebSocket feed (docs/feed.md): each open socket's lease, so that
  // a restarted object releases at once what sockets that are gone held;
  // leased deliveries found by their lease, for that release and a socket's close.
  `CREATE TABLE sockets (
     lease     TEXT    PRIMARY KEY,
     dest      TEXT    NOT NULL,
     opened_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX deliveries_leased ON deliveries (lease) WHERE lease IS NOT NULL;`,
  // v9. Service providers (docs/providers.md): a suite's newest suite_ticket
  // (ticket null until the first), and since when the gateway has watched for one.
  `CREATE TABLE suite_tickets (
     suite_id    TEXT    PRIMARY KEY,
     ticket      TEXT,
     time_stamp  INTEGER,
     received_at INTEGER,
     since       INTEGER NOT NULL
   ) WITHOUT ROWID;`,
  // v10. 微信客服 (docs/kf.md): per OpenKfId, the newest callback Token, the
  // intranet's sync_msg cursor, the held event later callbacks fold into, and
  // how many have been folded.
  `CREATE TABLE kf_accounts (
     open_kfid   TEXT    PRIMARY KEY,
     token       TEXT,
     received_at INTEGER,
     cursor      TEXT,
     pending_seq INTEGER,
     pending_n   INTEGER NOT NULL DEFAULT 0,
     coalesced   INTEGER NOT NULL DEFAULT 0
   ) WITHOUT ROWID;`,
  // v11. Fewer pages written per event. A push attempt is claimed in memory,
  // its row left due (DeliveryStore.claim): `pushing` is no longer written.
  // Rows a v10 object left claimed are due at once, as its restart would have
  // made them. The column and its index stay, always 0 and empty (so they
  // cost no write): a v10 object read the index when it woke, and dropping
  // a column rewrites every row. The order-key index holds only deliveries
  // that have a key, so an unordered destination's rows no longer write it.
  `UPDATE deliveries INDEXED BY deliveries_pushing SET pushing = 0, available_at = 0 WHERE pushing = 1;
   DROP INDEX deliveries_by_key;
   CREATE INDEX deliveries_by_key ON deliveries (dest, order_key, seq) WHERE order_key IS NOT NULL AND state <> 'dead';`,
  // v12. One row read fewer per delivered event. An event that goes to one
  // destination, with JSON of at most QUEUE_LIMITS.carriedBytes (app-queue.ts),
  // has its JSON, id, size and receipt time in that delivery's
  // row, so a pull or a push reads the row it walks to and not the event's
  // as well; its `events` row keeps the id, size and count, with body ''.
  // Events stored before, and those of several destinations, keep their
  // JSON in `events` (these columns null). Adding columns rewrites no row.
  // A build before v12 would read '' for the moved JSON: there is no going
  // back (docs/architecture.md, "Storage schema").
  `ALTER TABLE deliveries ADD COLUMN id TEXT;
   ALTER TABLE deliveries ADD COLUMN body TEXT;
   ALTER TABLE deliveries ADD COLUMN size INTEGER;
   ALTER TABLE deliveries ADD COLUMN received_at INTEGER;`,
];
