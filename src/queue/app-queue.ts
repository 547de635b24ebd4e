/**
 * AppQueue: one Durable Object per app, with SQLite storage, between WeCom
 * and the intranet. The Worker commits each accepted callback here before it
 * answers WeCom; from here events are pushed to the app's webhook (alarms,
 * retries with backoff, dead letters) or pulled by intranet consumers
 * (leases and acks). The storage schema is documented in the README.
 */
import { DurableObject } from "cloudflare:workers";
import { loadConfig, type ConfigEnv, type WebhookConfig } from "../config.js";
import { decodeBase64, encodeBase64, encodeUtf8 } from "../lib/bytes.js";
import { sendWebhook } from "../webhook/send.js";
import { logQueue } from "../log.js";
import { backoffMs } from "./backoff.js";

export const QUEUE_LIMITS = {
  /** Events kept per app (waiting, leased and dead together). */
  maxDepth: 10_000,
  /** Bytes of event JSON kept per app. */
  maxBytes: 512 * 1024 * 1024,
  /** Bytes of one event's JSON (a Durable Object's SQLite holds values up to 2 MB). */
  maxEventBytes: 1_900_000,
  /** How long an event id is remembered, so that WeCom's retries are not queued twice. */
  dedupWindowMs: 24 * 60 * 60 * 1000,
  /** Push attempts started per alarm (a Free-plan invocation may make 50 subrequests). */
  pushBatch: 40,
  /** Push attempts in flight at once (Workers allow 6 open connections per invocation). */
  pushConcurrency: 6,
  /** Event JSON read at once: for one pull answer, one list of dead letters, one push batch (RPC allows 32 MiB). */
  readBytes: 16 * 1024 * 1024,
  /** No attempt starts that could run past this much of an alarm's wall time (the platform allows 15 minutes). */
  alarmBudgetMs: 10 * 60 * 1000,
} as const;

export type QueueMode = "push" | "pull";

/** What the Worker tells the queue about its app with every event. */
export interface QueueSettings {
  readonly mode: QueueMode;
  readonly webhook?: WebhookConfig;
}

export interface QueuedEvent {
  readonly id: string;
  /** The event JSON of SPEC §5, exactly as it is pushed or pulled. */
  readonly body: string;
  /** Epoch ms. */
  readonly receivedAt: number;
}

export type EnqueueResult =
  | { readonly status: "queued" }
  | { readonly status: "duplicate" }
  | { readonly status: "full"; readonly reason: string }
  | { readonly status: "too_large"; readonly reason: string };

export interface QueueStats {
  app: string;
  mode: QueueMode | null;
  paused: boolean;
  /** Waiting to be pushed or pulled (includes pushes waiting out a backoff). */
  queued: number;
  /** Pull: leased and not yet acked. Push: attempts in flight right now. */
  leased: number;
  /** Push: waiting for a retry after a failed attempt. */
  retrying: number;
  /** Pushed with a 2xx, or pulled and acked, since the queue was created. */
  delivered: number;
  dead: number;
  /** Age of the oldest event not yet delivered (dead letters aside), in seconds. */
  oldestAgeSeconds: number | null;
  lastError: { at: string; message: string } | null;
}

export interface DeadLetter {
  id: string;
  receivedAt: string;
  attempts: number;
  lastError: string | null;
  event: unknown;
}

export class AppQueue extends DurableObject<ConfigEnv> {
  private readonly sql: SqlStorage;
  private readonly inFlight = new Set<string>();

  constructor(ctx: DurableObjectState, env: ConfigEnv) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS events (
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
      ) WITHOUT ROWID;
    `);
    // After a restart, make sure pending pushes have an alarm, whatever happened to the last one.
    void ctx.blockConcurrencyWhile(() => this.schedule());
  }

  // ---- the Worker's side: commit before ack ----

  /** Stores an accepted callback durably; the Worker answers WeCom only after this returns. */
  async enqueue(app: string, settings: QueueSettings, event: QueuedEvent): Promise<EnqueueResult> {
    const now = Date.now();
    const mode = settings.mode;
    this.setMeta("app", app);
    this.setMeta("mode", mode);
    this.rememberWebhook(settings.webhook);
    this.sql.exec("DELETE FROM seen WHERE seen_at < ?", now - QUEUE_LIMITS.dedupWindowMs);
    if (this.sql.exec("SELECT 1 FROM seen WHERE id = ?", event.id).toArray().length > 0) {
      // The first copy is queued; make sure it has an alarm, in case arming it failed then.
      if (mode === "push") await this.schedule();
      return { status: "duplicate" };
    }
    const size = encodeUtf8(event.body).length;
    if (size > QUEUE_LIMITS.maxEventBytes) {
      return { status: "too_large", reason: `event is ${size} bytes; at most ${QUEUE_LIMITS.maxEventBytes} are queued` };
    }
    const { depth, bytes } = this.sql
      .exec<{ depth: number; bytes: number }>("SELECT COUNT(*) AS depth, COALESCE(SUM(size), 0) AS bytes FROM events")
      .one();
    if (depth >= QUEUE_LIMITS.maxDepth) {
      return { status: "full", reason: `queue holds ${depth} events (limit ${QUEUE_LIMITS.maxDepth})` };
    }
    if (bytes + size > QUEUE_LIMITS.maxBytes) {
      return { status: "full", reason: `queue holds ${bytes} bytes (limit ${QUEUE_LIMITS.maxBytes})` };
    }
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("INSERT INTO seen (id, seen_at) VALUES (?, ?)", event.id, now);
      this.sql.exec(
        "INSERT INTO events (id, body, size, received_at, state, attempts, available_at) VALUES (?, ?, ?, ?, 'queued', 0, ?)",
        event.id,
        event.body,
        size,
        event.receivedAt,
        now,
      );
    });
    if (mode === "push") await this.schedule();
    return { status: "queued" };
  }

  // ---- pull (SPEC §6) ----

  /**
   * Leases up to `max` available events, oldest first, for `leaseSeconds`. Fewer
   * come back when their JSON would pass QUEUE_LIMITS.readBytes; only those
   * returned are leased.
   */
  async pull(max: number, leaseSeconds: number): Promise<string[]> {
    const now = Date.now();
    const rows = this.readWithin(
      this.sql.exec<{ seq: number; body: string; size: number }>(
        "SELECT seq, body, size FROM events WHERE state = 'queued' AND available_at <= ? ORDER BY seq LIMIT ?",
        now,
        max,
      ),
    );
    for (const row of rows) {
      this.sql.exec("UPDATE events SET attempts = attempts + 1, available_at = ? WHERE seq = ?", now + leaseSeconds * 1000, row.seq);
    }
    return rows.map((row) => row.body);
  }

  /** Removes acked events; unknown or already acked ids are ignored. */
  async ack(ids: readonly string[]): Promise<number> {
    let acked = 0;
    this.ctx.storage.transactionSync(() => {
      for (const id of ids) {
        acked += this.sql.exec("DELETE FROM events WHERE id = ? AND state = 'queued' RETURNING seq", id).toArray().length;
      }
      if (acked > 0) this.addDelivered(acked);
    });
    return acked;
  }

  // ---- push: alarms ----

  override async alarm(): Promise<void> {
    const app = this.getMeta("app");
    if (app === null || this.isPaused()) return;
    // No webhook: the app pulls now (its events wait for consumers), or there is nothing to push with.
    const webhook = this.webhookOf(app);
    if (!webhook) return;

    const started = Date.now();
    const due = this.readWithin(
      this.sql.exec<{ seq: number; id: string; body: string; size: number; attempts: number }>(
        "SELECT seq, id, body, size, attempts FROM events WHERE state = 'queued' AND available_at <= ? ORDER BY seq LIMIT ?",
        started,
        QUEUE_LIMITS.pushBatch,
      ),
    );
    if (due.length === 0) return this.schedule();
    // If this object dies mid-batch, this alarm, set first, comes back for what is left.
    await this.ctx.storage.setAlarm(started + webhook.timeoutMs + 1_000);

    let next = 0;
    const worker = async () => {
      while (next < due.length && !this.isPaused() && Date.now() - started + webhook.timeoutMs <= QUEUE_LIMITS.alarmBudgetMs) {
        const row = due[next++]!;
        const attempts = row.attempts + 1;
        // Claim the attempt before it leaves: if this object dies mid-flight, the event is
        // due again once the attempt's timeout and backoff have passed. The claim also
        // skips an event that is no longer due (pulled, after a switch to pull).
        const claimed = this.sql
          .exec(
            "UPDATE events SET attempts = ?, available_at = ? WHERE seq = ? AND state = 'queued' AND available_at <= ? RETURNING seq",
            attempts,
            Date.now() + webhook.timeoutMs + backoffMs(webhook, attempts),
            row.seq,
            started,
          )
          .toArray().length;
        if (claimed === 0) continue;
        await this.push(app, webhook, { ...row, attempts });
      }
    };
    await Promise.all(Array.from({ length: Math.min(QUEUE_LIMITS.pushConcurrency, due.length) }, worker));
    await this.schedule();
  }

  private async push(app: string, webhook: WebhookConfig, row: { seq: number; id: string; body: string; attempts: number }) {
    this.inFlight.add(row.id);
    let outcome;
    try {
      outcome = await sendWebhook(webhook, row.id, row.body, webhook.timeoutMs);
    } finally {
      this.inFlight.delete(row.id);
    }
    if (outcome.ok) {
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("DELETE FROM events WHERE seq = ?", row.seq);
        this.addDelivered(1);
      });
      logQueue({ app, eventId: row.id, outcome: "delivered", status: outcome.status, attempts: row.attempts });
      return;
    }
    const message = `attempt ${row.attempts}: ${outcome.error}`;
    this.recordError(message);
    if (outcome.status === 410) {
      // 410 Gone: the webhook says it no longer exists. Keep the event as a dead letter
      // and stop pushing until an operator resumes.
      this.sql.exec("UPDATE events SET state = 'dead', last_error = ? WHERE seq = ?", message, row.seq);
      this.setMeta("paused", "1");
      logQueue({ app, eventId: row.id, outcome: "dead", status: 410, attempts: row.attempts, detail: "webhook answered 410 Gone; pushing paused" });
      return;
    }
    if (row.attempts >= webhook.maxAttempts) {
      this.sql.exec("UPDATE events SET state = 'dead', last_error = ? WHERE seq = ?", message, row.seq);
      logQueue({ app, eventId: row.id, outcome: "dead", status: outcome.status, attempts: row.attempts, detail: outcome.error });
      return;
    }
    const delay = backoffMs(webhook, row.attempts, outcome.retryAfterSeconds);
    this.sql.exec("UPDATE events SET available_at = ?, last_error = ? WHERE seq = ?", Date.now() + delay, message, row.seq);
    logQueue({ app, eventId: row.id, outcome: "retry", status: outcome.status, attempts: row.attempts, detail: outcome.error, retryInMs: delay });
  }

  /** Sets the alarm for the earliest due push, unless one is set earlier already. */
  private async schedule(): Promise<void> {
    const app = this.getMeta("app");
    if (app === null || this.isPaused() || !this.webhookOf(app)) return;
    const { next } = this.sql
      .exec<{ next: number | null }>("SELECT MIN(available_at) AS next FROM events WHERE state = 'queued'")
      .one();
    if (next === null) return;
    const at = Math.max(next, Date.now());
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  // ---- admin ----

  async stats(app: string): Promise<QueueStats> {
    const now = Date.now();
    const counts = this.sql
      .exec<{ waiting: number; leased: number; retrying: number; dead: number; oldest: number | null }>(
        `SELECT
           COALESCE(SUM(state = 'queued' AND available_at <= ?), 0)            AS waiting,
           COALESCE(SUM(state = 'queued' AND available_at > ?), 0)             AS leased,
           COALESCE(SUM(state = 'queued' AND attempts > 0), 0)                 AS retrying,
           COALESCE(SUM(state = 'dead'), 0)                                    AS dead,
           MIN(CASE WHEN state = 'queued' THEN received_at END)               AS oldest
         FROM events`,
        now,
        now,
      )
      .one();
    const mode = this.getMeta("mode") as QueueMode | null;
    const lastError = this.getMeta("last_error");
    const push = mode !== "pull";
    return {
      app,
      mode,
      paused: this.isPaused(),
      // A push waiting out its backoff is still queued; a pull lease is not.
      queued: push ? counts.waiting + counts.leased - this.inFlight.size : counts.waiting,
      leased: push ? this.inFlight.size : counts.leased,
      retrying: push ? Math.max(0, counts.retrying - this.inFlight.size) : 0,
      delivered: Number(this.getMeta("delivered") ?? "0"),
      dead: counts.dead,
      oldestAgeSeconds: counts.oldest === null ? null : Math.max(0, Math.floor((now - counts.oldest) / 1000)),
      lastError: lastError === null ? null : (JSON.parse(lastError) as { at: string; message: string }),
    };
  }

  /** Dead letters, oldest first: up to `limit`, fewer when their JSON would pass QUEUE_LIMITS.readBytes. */
  async deadLetters(limit: number): Promise<DeadLetter[]> {
    return this.readWithin(
      this.sql.exec<{ id: string; received_at: number; attempts: number; last_error: string | null; body: string; size: number }>(
        "SELECT id, received_at, attempts, last_error, body, size FROM events WHERE state = 'dead' ORDER BY seq LIMIT ?",
        limit,
      ),
    ).map((row) => ({
        id: row.id,
        receivedAt: new Date(row.received_at).toISOString(),
        attempts: row.attempts,
        lastError: row.last_error,
        event: JSON.parse(row.body) as unknown,
      }));
  }

  /** Puts dead letters back in the queue (all of them when `ids` is null), with a fresh attempt count. */
  async replay(ids: readonly string[] | null): Promise<number> {
    const now = Date.now();
    let replayed = 0;
    this.ctx.storage.transactionSync(() => {
      // Counted with RETURNING: rowsWritten also counts index entries.
      const reset = "UPDATE events SET state = 'queued', attempts = 0, available_at = ?, last_error = NULL WHERE state = 'dead'";
      if (ids === null) replayed = this.sql.exec(`${reset} RETURNING seq`, now).toArray().length;
      else for (const id of ids) replayed += this.sql.exec(`${reset} AND id = ? RETURNING seq`, now, id).toArray().length;
    });
    await this.schedule();
    return replayed;
  }

  async setPaused(paused: boolean): Promise<boolean> {
    this.setMeta("paused", paused ? "1" : "0");
    if (!paused) await this.schedule();
    return paused;
  }

  /**
   * The webhook to push to: the app's entry in this object's own WECOM_APPS,
   * or, when the app is no longer there (or the configuration is broken), the
   * settings its last event was queued with, so that queued events are not
   * stranded. An app that now has `pull` instead keeps its events for pulling.
   */
  private webhookOf(app: string): WebhookConfig | undefined {
    try {
      const live = loadConfig(this.env).apps.get(app);
      if (live) return live.webhook;
    } catch {
      // fall through to the remembered settings
    }
    const remembered = this.getMeta("webhook");
    if (remembered === null) return undefined;
    const { signingKey, ...rest } = JSON.parse(remembered) as Omit<WebhookConfig, "signingKey"> & { signingKey: string };
    return { ...rest, signingKey: decodeBase64(signingKey) };
  }

  private rememberWebhook(webhook: WebhookConfig | undefined): void {
    if (!webhook) {
      this.sql.exec("DELETE FROM meta WHERE key = 'webhook'");
      return;
    }
    this.setMeta("webhook", JSON.stringify({ ...webhook, signingKey: encodeBase64(webhook.signingKey) }));
  }

  /** Reads rows until their bodies would pass QUEUE_LIMITS.readBytes; always at least one. */
  private readWithin<T extends { size: number }>(cursor: Iterable<T>): T[] {
    const rows: T[] = [];
    let bytes = 0;
    for (const row of cursor) {
      if (rows.length > 0 && bytes + row.size > QUEUE_LIMITS.readBytes) break;
      bytes += row.size;
      rows.push(row);
    }
    return rows;
  }

  private isPaused(): boolean {
    return this.getMeta("paused") === "1";
  }

  // ---- meta ----

  private getMeta(key: string): string | null {
    const rows = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray();
    return rows[0]?.value ?? null;
  }

  /** Writes only on change: enqueue restates app, mode and webhook with every event. */
  private setMeta(key: string, value: string): void {
    if (this.getMeta(key) === value) return;
    this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
  }

  private addDelivered(n: number): void {
    this.setMeta("delivered", String(Number(this.getMeta("delivered") ?? "0") + n));
  }

  private recordError(message: string): void {
    this.setMeta("last_error", JSON.stringify({ at: new Date().toISOString(), message }));
  }
}
