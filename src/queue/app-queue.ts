/**
 * AppQueue: one Durable Object per app, between WeCom and the intranet. A
 * thin shell: storage is store.ts, push policy is push.ts, lease handles are
 * lease.ts; this class owns the single alarm, the app's settings and the RPC
 * surface the routes call. docs/delivery.md, "Delivery guarantees"; docs/architecture.md, "Storage schema".
 */
import { DurableObject } from "cloudflare:workers";
import { deadLetterAlert, pushPausedAlert, refusalBurstAlert } from "../alerts/alerts.js";
import { currentAlerts } from "../alerts/config.js";
import { AlertGate, type RaiseEnv } from "../alerts/raise.js";
import type { WebhookConfig } from "../config.js";
import { encodeUtf8 } from "../lib/bytes.js";
import { logQueue } from "../log.js";
import { sendWebhook } from "../webhook/send.js";
import { registryOf, type QueueEnv } from "./bindings.js";
import { leaseExpiry, newLease, notHeldReason, type NotHeldReason } from "./lease.js";
import { pushBatch, PUSH_LIMITS, type BatchReport } from "./push.js";
import { decodeSettings, type QueueSettings } from "./settings.js";
import { QueueStore, type Refusal, type StoredEvent } from "./store.js";
import { MAX_STREAM_BYTES } from "../wecom/reply.js";
import type { StreamState } from "../wecom/bot.js";

/** A stream is kept this long past its timeout: WeCom stops refreshing 6 minutes after the message. */
const STREAM_KEEP_MS = 10 * 60 * 1000;

/** `text` cut to at most `maxBytes` of UTF-8, never inside a character. */
function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = encodeUtf8(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

export const QUEUE_LIMITS = {
  /** Live events (waiting, leased, backing off) kept per app; dead letters are not counted. */
  maxDepth: 10_000,
  /** Bytes of event JSON kept per app, dead letters included. */
  maxBytes: 512 * 1024 * 1024,
  /** Bytes of one event's JSON (a Durable Object's SQLite holds values up to 2 MB). */
  maxEventBytes: 1_900_000,
  /** How long a delivered event's id is remembered, so that WeCom's resend is not queued twice. */
  dedupWindowMs: 24 * 60 * 60 * 1000,
  /** Refused callbacks kept per app, for the admin API. */
  refusalsKept: 100,
  /** Event JSON read at once: for one pull answer, one list of dead letters, one push batch (RPC allows 32 MiB). */
  readBytes: 16 * 1024 * 1024,
} as const;

export interface QueuedEvent {
  readonly id: string;
  /** The event JSON (docs/delivery.md, "What your intranet receives"), exactly as it is pushed or pulled. */
  readonly body: string;
  /** Epoch ms. */
  readonly receivedAt: number;
  /** The fingerprint of the credential the callback came with, counted for key rotation. */
  readonly credential?: string;
  /** An AI-bot message opens this stream, showing `placeholder` until `expiresAt`. */
  readonly stream?: { readonly id: string; readonly placeholder: string; readonly expiresAt: number };
}

/** What a stream update asks (docs/replies.md, "AI-bot streams"). */
export interface StreamUpdate {
  readonly content: string;
  /** `content` is a delta to add, not the whole text so far. */
  readonly append: boolean;
  readonly finish: boolean;
  /** JSON text of `msg_item`, only with `finish`. */
  readonly msgItem: string | null;
}

export type StreamUpdateResult =
  | { readonly status: "ok"; readonly finish: boolean; readonly bytes: number }
  | { readonly status: "unknown" | "finished" | "expired" | "too_large" };

export type EnqueueResult =
  | { readonly status: "queued" }
  /** `reply`: what the reply endpoint answered the first copy ("" for nothing), if remembered. */
  | { readonly status: "duplicate"; readonly reply?: string }
  | { readonly status: "full"; readonly reason: string }
  | { readonly status: "too_large"; readonly reason: string };

export interface Pulled {
  /** Event JSON texts, oldest first. */
  readonly events: string[];
  /** Deliveries of each event so far, this one included. */
  readonly attempts: number[];
  readonly ids: string[];
  /** Null when nothing was leased. */
  readonly lease: string | null;
}

export interface NotHeld {
  readonly id: string;
  readonly reason: NotHeldReason;
}

export interface AckResult {
  readonly acked: number;
  readonly notAcked: NotHeld[];
}

export interface ReleaseResult {
  readonly released: number;
  readonly notReleased: NotHeld[];
}

export interface QueueStats {
  app: string;
  /** False for a queue whose app is no longer in WECOM_APPS. */
  configured: boolean;
  /** The live mode (the remembered one for an app no longer configured). */
  mode: "push" | "pull" | null;
  paused: boolean;
  /** Live events: waiting, leased or backing off. */
  depth: number;
  /** Bytes of event JSON held, dead letters included. */
  bytes: number;
  /** Waiting to be pushed or pulled (push: includes pushes waiting out a backoff). */
  queued: number;
  /** Pull: leased and not yet acked. Push: attempts in flight right now. */
  leased: number;
  /** Push: waiting for a retry after a failed attempt. */
  retrying: number;
  /** Pushed with a 2xx, or pulled and acked, since the queue was created. */
  delivered: number;
  dead: number;
  /** Age of the oldest live event, in seconds. */
  oldestAgeSeconds: number | null;
  /** AI-bot stream refreshes answered (they are protocol traffic, not events). */
  refreshes: number;
  /** Callbacks per credential fingerprint (docs/deploying.md, "Rotating keys"). */
  credentials: Record<string, { callbacks: number; lastAt: number }>;
  /**
   * The last failed push attempt. It stays after the webhook recovers: the
   * page compares it with `lastDeliveredAt` (docs/operating.md, "Admin page").
   */
  lastError: { at: string; message: string } | null;
  /** When an event was last pushed with a 2xx or acked (ISO time); null: never. */
  lastDeliveredAt: string | null;
}

export interface DeadLetter {
  readonly id: string;
  readonly receivedAt: number;
  readonly attempts: number;
  readonly lastError: string | null;
  /** The stored event JSON, to be spliced into an answer as it is. */
  readonly body: string;
}

export class AppQueue extends DurableObject<QueueEnv & RaiseEnv> {
  private store: QueueStore;
  /** The app this queue serves, once it has stored anything. */
  private app: string | null;
  private readonly inFlight = new Set<string>();
  /** The app's settings as last handed over (JSON, and parsed). */
  private settingsJson: string | null;
  private settings: QueueSettings | null;
  /** The alarm as this object last set or read it: undefined until read. */
  private alarmAt: number | null | undefined;
  private pushing = false;
  /** Holds back alerts the outbox would rate-limit, and counts them (docs/operating.md, "Alerts"). */
  private readonly alerts = new AlertGate();
  private paused: boolean;
  /** The sweep said this queue's app left WECOM_APPS. */
  private removed: boolean;

  constructor(ctx: DurableObjectState, env: QueueEnv & RaiseEnv) {
    super(ctx, env);
    this.store = new QueueStore(ctx.storage, QUEUE_LIMITS.dedupWindowMs);
    this.app = this.store.getMeta("app");
    this.settingsJson = this.store.getMeta("settings");
    this.settings = this.settingsJson === null ? null : decodeSettings(this.settingsJson);
    this.paused = this.store.getMeta("paused") === "1";
    this.removed = this.store.getMeta("removed") === "1";
    void ctx.blockConcurrencyWhile(async () => {
      // A queue not registered yet (one of 0.1, or whose registration failed) is now, so that the
      // admin API and the sweep know it.
      if (this.app !== null && this.store.getMeta("registered") === null) await this.register(this.app);
      // After a restart, make sure pending pushes have an alarm, whatever happened to the last one.
      await this.schedule();
    });
  }

  // ---- the Worker's side: commit before ack ----

  /** Stores an accepted callback durably; the Worker answers WeCom only after this returns. */
  async enqueue(app: string, settingsJson: string, event: QueuedEvent): Promise<EnqueueResult> {
    const now = Date.now();
    await this.adopt(app, settingsJson);
    if (event.credential !== undefined) this.store.countCallback(event.credential, now);
    if (this.store.delivered(event.id, now)) return this.duplicate(event.id, now);
    const size = encodeUtf8(event.body).length;
    if (size > QUEUE_LIMITS.maxEventBytes) {
      return { status: "too_large", reason: `event is ${size} bytes; at most ${QUEUE_LIMITS.maxEventBytes} are queued` };
    }
    const { live, liveBytes, deadBytes } = this.store.counts();
    // A resend of an event still held is a duplicate, even when the queue is full.
    if (live >= QUEUE_LIMITS.maxDepth || liveBytes + deadBytes + size > QUEUE_LIMITS.maxBytes) {
      if (this.store.holds(event.id)) return this.duplicate(event.id, now);
      return live >= QUEUE_LIMITS.maxDepth
        ? { status: "full", reason: `queue holds ${live} events (limit ${QUEUE_LIMITS.maxDepth})` }
        : { status: "full", reason: `queue holds ${liveBytes + deadBytes} bytes (limit ${QUEUE_LIMITS.maxBytes})` };
    }
    if (event.stream) this.store.openStream(event.stream.id, event.stream.placeholder, event.stream.expiresAt, now, STREAM_KEEP_MS);
    if (!this.store.insert(event.id, event.body, size, event.receivedAt, now)) {
      // Held already; make sure it has an alarm, in case arming it failed then.
      await this.wake(now);
      return this.duplicate(event.id, now);
    }
    await this.wake(now);
    return { status: "queued" };
  }

  private duplicate(id: string, now: number): EnqueueResult {
    const reply = this.store.rememberedReply(id, now);
    return reply === undefined ? { status: "duplicate" } : { status: "duplicate", reply };
  }

  /** Remembers what the reply endpoint answered event `id` ("" for nothing), for WeCom's resends. */
  async rememberReply(id: string, reply: string): Promise<void> {
    this.store.rememberReply(id, reply, Date.now());
  }

  /**
   * Tells the queue its app's live settings (null: the app left WECOM_APPS).
   * Writes only when they change. Answers whether this queue holds anything.
   */
  async sync(app: string, settingsJson: string | null, bySweep = false): Promise<{ holds: boolean }> {
    const { live, dead } = this.store.counts();
    if (this.app === null && live + dead === 0) return { holds: false };
    if (settingsJson === null) {
      this.setRemoved(true);
    } else {
      await this.adopt(app, settingsJson, bySweep);
    }
    await this.schedule();
    return { holds: true };
  }

  // ---- AI-bot streams (docs/replies.md, "AI-bot streams") ----

  /**
   * What stream `id` shows now, for WeCom's refresh: an unknown stream is
   * finished and empty; one past its time is finished with `timeoutText`
   * added, and stays so.
   */
  async refresh(id: string, timeoutText: string, credential?: string): Promise<StreamState> {
    const now = Date.now();
    this.store.countRefresh();
    if (credential !== undefined) this.store.countCallback(credential, now);
    const stream = this.store.stream(id);
    if (!stream) return { id, content: "", finish: true, msgItem: null };
    if (stream.finish === 0 && stream.expiresAt <= now) {
      const content = truncateUtf8(stream.content + timeoutText, MAX_STREAM_BYTES);
      this.store.updateStream(id, content, true, null, true);
      return { id, content, finish: true, msgItem: null };
    }
    return { id, content: stream.content, finish: stream.finish === 1, msgItem: stream.msgItem };
  }

  /** The intranet's answer, so far or whole, for the next refresh to show. */
  async updateStream(id: string, update: StreamUpdate): Promise<StreamUpdateResult> {
    const stream = this.store.stream(id);
    if (!stream) return { status: "unknown" };
    if (stream.finish === 1) return { status: stream.timedOut === 1 ? "expired" : "finished" };
    if (stream.expiresAt <= Date.now()) return { status: "expired" };
    // The placeholder is the gateway's, not part of the answer: a first append replaces it.
    const content = update.append && stream.answered === 1 ? stream.content + update.content : update.content;
    const bytes = encodeUtf8(content).length;
    if (bytes > MAX_STREAM_BYTES) return { status: "too_large" };
    this.store.updateStream(id, content, update.finish, update.msgItem);
    return { status: "ok", finish: update.finish, bytes };
  }

  // ---- pull (docs/delivery.md, "Pulling from the queue") ----

  /**
   * Leases up to `max` due events, oldest first, for `leaseSeconds`, under one
   * new lease handle. Fewer come back when their JSON would pass
   * QUEUE_LIMITS.readBytes, and an event already leased `maxAttempts` times
   * becomes a dead letter instead.
   */
  async pull(app: string, settingsJson: string, max: number, leaseSeconds: number): Promise<Pulled> {
    await this.adopt(app, settingsJson);
    const now = Date.now();
    const maxAttempts = this.settings?.mode === "pull" ? this.settings.maxAttempts : Number.POSITIVE_INFINITY;
    const until = now + leaseSeconds * 1000;
    const lease = newLease(until);
    const pulled: Pulled = { events: [], attempts: [], ids: [], lease: null };
    const dead: string[] = [];
    let lastError: string | null = null;
    for (const event of this.store.due(now, max, QUEUE_LIMITS.readBytes)) {
      if (event.attempts >= maxAttempts) {
        lastError = `leased ${event.attempts} times without an ack`;
        this.store.kill(event, lastError, now);
        dead.push(event.id);
        logQueue({ app, eventId: event.id, outcome: "dead", status: 0, attempts: event.attempts, detail: "never acked" });
        continue;
      }
      this.store.lease(event, lease, until);
      pulled.events.push(event.body);
      pulled.attempts.push(event.attempts + 1);
      pulled.ids.push(event.id);
    }
    // After the writes above: a rare pull that dead-letters waits for one call to the alert outbox.
    if (dead.length > 0) await this.alerts.raise(this.env, deadLetterAlert(app, "pull", dead, lastError));
    return pulled.events.length > 0 ? { ...pulled, lease } : pulled;
  }

  /** Acks events held under `lease`; with a null lease, any live event (the unfenced ack of 0.1). */
  async ack(ids: readonly string[], lease: string | null): Promise<AckResult> {
    const now = Date.now();
    // Each id once, as nack counts them.
    const unique = [...new Set(ids)];
    const acked = this.store.ack(unique, lease, now);
    if (acked.size > 0) this.store.setMeta("last_delivered", new Date(now).toISOString());
    const reason = lease === null ? "unknown" : notHeldReason(lease, now);
    const notAcked = unique.filter((id) => !acked.has(id)).map((id) => ({ id, reason }));
    return { acked: acked.size, notAcked };
  }

  /** Releases events held under `lease`: each is due again after `delaySeconds`. */
  async nack(ids: readonly string[], lease: string, delaySeconds: number): Promise<ReleaseResult> {
    const now = Date.now();
    const notReleased: NotHeld[] = [];
    let released = 0;
    // Each id once, as ack counts them.
    for (const id of new Set(ids)) {
      if (leaseExpiry(lease) !== null && this.store.release(id, lease, now, now + delaySeconds * 1000)) released++;
      else notReleased.push({ id, reason: notHeldReason(lease, now) });
    }
    if (released > 0) await this.schedule();
    return { released, notReleased };
  }

  // ---- push: the alarm ----

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const webhook = this.webhook();
    const app = this.app;
    if (!webhook || app === null) return;
    const started = Date.now();
    const due = this.store.due(started, PUSH_LIMITS.batch, QUEUE_LIMITS.readBytes);
    /** A stored batch in which events died: it may raise an alert (docs/operating.md, "Alerts"). */
    let died: BatchReport | undefined;
    if (due.length > 0) {
      // If this object dies mid-batch, this alarm, set first, comes back for what is left.
      await this.setAlarm(started + webhook.timeoutMs + 1_000);
      this.pushing = true;
      // The batch outlives its awaits: if the queue is dropped meanwhile (a new store), the
      // batch's last words are about a queue that is gone, and are not said.
      const store = this.store;
      const current = () => this.store === store;
      let report: BatchReport | undefined;
      try {
        report = await pushBatch(
          {
            app,
            webhook,
            store,
            inFlight: this.inFlight,
            isPaused: () => this.paused || !current(),
            pause: () => current() && this.setPausedFlag(true),
            recordError: (message, at) => current() && store.setMeta("last_error", JSON.stringify({ at: new Date(at).toISOString(), message })),
            recordDelivered: (at) => current() && store.setMeta("last_delivered", new Date(at).toISOString()),
            send: (event: StoredEvent, attempt: number) => sendWebhook(webhook, event.id, event.body, attempt),
          },
          due,
          started,
        );
        if (report.delivered > 0) logQueue({ app, outcome: "pushed", delivered: report.delivered, retried: report.retried, dead: report.deadLetters.length });
      } finally {
        this.pushing = false;
      }
      if (report.deadLetters.length > 0 && current()) died = report;
    }
    await this.schedule();
    // After the next push is scheduled, and not awaited: the next alarm runs only once this
    // one has returned, so a slow outbox would hold up every push.
    if (died) this.ctx.waitUntil(this.raiseForBatch(app, died));
  }

  // ---- admin ----

  /**
   * Stats. `settingsJson` is the app's live settings (null: no longer
   * configured), remembered as `sync` does; without it, the remembered ones.
   */
  async stats(app: string, settingsJson?: string | null): Promise<QueueStats> {
    if (settingsJson !== undefined) await this.sync(app, settingsJson);
    const now = Date.now();
    const counts = this.store.counts();
    const held = counts.live > 0 ? this.store.heldCount(now) : 0;
    const oldest = this.store.oldestLive();
    const lastError = this.store.getMeta("last_error");
    const push = this.settings?.mode !== "pull";
    const inFlight = this.inFlight.size;
    return {
      app,
      configured: settingsJson === undefined ? !this.removed : settingsJson !== null,
      mode: settingsJson ? decodeSettings(settingsJson).mode : (this.settings?.mode ?? null),
      paused: this.paused,
      depth: counts.live,
      bytes: counts.liveBytes + counts.deadBytes,
      queued: push ? counts.live - inFlight : counts.live - held,
      leased: push ? inFlight : held,
      retrying: push ? Math.max(0, held - inFlight) : 0,
      delivered: counts.delivered,
      dead: counts.dead,
      oldestAgeSeconds: oldest === null ? null : Math.max(0, Math.floor((now - oldest) / 1000)),
      refreshes: counts.refreshes,
      credentials: this.store.callbacksByCredential(),
      lastError: lastError === null ? null : (JSON.parse(lastError) as { at: string; message: string }),
      lastDeliveredAt: this.store.getMeta("last_delivered"),
    };
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    return this.store.deadLetters(limit, QUEUE_LIMITS.readBytes).map(({ id, receivedAt, attempts, lastError, body }) => ({
      id,
      receivedAt,
      attempts,
      lastError,
      body,
    }));
  }

  /** The stored event JSON of dead letter `id`, as it is (null: no such dead letter). */
  async deadLetterBody(id: string): Promise<string | null> {
    return this.store.deadLetterBody(id);
  }

  /** Puts dead letters back in the queue (all of them when `ids` is null), with a fresh attempt count. */
  async replay(ids: readonly string[] | null): Promise<number> {
    const replayed = this.store.replay(ids, Date.now());
    await this.schedule();
    return replayed;
  }

  /** Keeps a refused callback of this app; the last QUEUE_LIMITS.refusalsKept are kept. */
  async recordRefusal(refusal: Refusal): Promise<void> {
    this.store.recordRefusal(refusal, QUEUE_LIMITS.refusalsKept);
    await this.watchRefusals(refusal.at);
  }

  /** The oldest live event and the depth, for the sweep's alert (docs/operating.md, "Alerts"): reads one index entry. */
  async backlog(): Promise<{ oldestAgeSeconds: number | null; depth: number; paused: boolean }> {
    const oldest = this.store.oldestLive();
    return {
      oldestAgeSeconds: oldest === null ? null : Math.max(0, Math.floor((Date.now() - oldest) / 1000)),
      depth: this.store.counts().live,
      paused: this.paused,
    };
  }

  async refusals(): Promise<Refusal[]> {
    return this.store.refusals(QUEUE_LIMITS.refusalsKept);
  }

  /** Deletes dead letters (all when `ids` is null). */
  async purgeDead(ids: readonly string[] | null): Promise<number> {
    return this.store.purgeDead(ids);
  }

  /** Deletes every event, dead or live, and forgets this queue. Answers how many events went. */
  async purgeAll(app: string): Promise<number> {
    const { live, dead } = this.store.counts();
    // Out of the registry first: an enqueue that slips in while this awaits registers the queue anew.
    await registryOf(this.env).remove(app);
    await this.ctx.storage.deleteAlarm();
    await this.store.purgeAll();
    this.alarmAt = null;
    this.store = new QueueStore(this.ctx.storage, QUEUE_LIMITS.dedupWindowMs);
    this.app = null;
    this.settingsJson = null;
    this.settings = null;
    this.paused = false;
    this.removed = false;
    return live + dead;
  }

  async setPaused(paused: boolean): Promise<boolean> {
    this.setPausedFlag(paused);
    if (!paused) await this.schedule();
    return paused;
  }

  private setRemoved(removed: boolean): void {
    if (removed === this.removed) return;
    this.store.setMeta("removed", removed ? "1" : null);
    this.removed = removed;
  }

  private setPausedFlag(paused: boolean): void {
    this.store.setMeta("paused", paused ? "1" : null);
    this.paused = paused;
  }

  // ---- alerts (docs/operating.md, "Alerts"), raised after what caused them is stored ----

  /** Dead letters of a push batch: those of a 410 say that pushing is paused, the others that they died. */
  private async raiseForBatch(app: string, report: BatchReport): Promise<void> {
    const paused = report.deadLetters.filter((dead) => dead.paused).map((dead) => dead.id);
    const died = report.deadLetters.filter((dead) => !dead.paused);
    if (paused.length > 0) await this.alerts.raise(this.env, pushPausedAlert(app, paused));
    if (died.length > 0) {
      await this.alerts.raise(this.env, deadLetterAlert(app, "push", died.map((dead) => dead.id), died[died.length - 1]!.error));
    }
  }

  /** More than refusalBurst.count refusals within refusalBurst.minutes: reads at most the refusals kept. */
  private async watchRefusals(now: number): Promise<void> {
    const burst = currentAlerts(this.env)?.refusalBurst;
    const app = this.app ?? this.ctx.id.name;
    if (!burst || app === undefined) return;
    const codes = this.store.refusalCodesSince(now - burst.minutes * 60_000, QUEUE_LIMITS.refusalsKept);
    const total = codes.reduce((sum, code) => sum + code.count, 0);
    if (total <= burst.count) return;
    const top = codes[0]!;
    await this.alerts.raise(this.env, refusalBurstAlert(app, total, burst.minutes, burst.count, top.code, top.count, top.hint));
  }

  // ---- settings and the alarm ----

  /**
   * Remembers the app's name and settings when they change (a string
   * comparison otherwise), and registers a new queue with the registry, once.
   * Settings that change other than by the sweep (a callback or a pull served
   * by a Worker with another configuration, during a deploy) make the
   * registry forget what it last told this queue, so that the next sweep
   * hands it the live settings again.
   */
  private async adopt(app: string, settingsJson: string, bySweep = false): Promise<void> {
    if (this.app === null) {
      await this.register(app);
      this.store.setMeta("app", app);
      this.app = app;
    }
    this.setRemoved(false);
    if (settingsJson !== this.settingsJson) {
      if (!bySweep && this.settingsJson !== null) await registryOf(this.env).forgetTold(app);
      this.store.setMeta("settings", settingsJson);
      this.settingsJson = settingsJson;
      this.settings = decodeSettings(settingsJson);
      await this.schedule();
    }
  }

  private async register(app: string): Promise<void> {
    await registryOf(this.env).add(app);
    this.store.setMeta("registered", "1");
  }

  /** The webhook to push to, unless the app pulls or pushing is paused. */
  private webhook(): WebhookConfig | null {
    return this.settings?.mode === "push" && !this.paused ? this.settings.webhook : null;
  }

  /** Makes sure an alarm comes at or before `at`, for a push app. While a batch runs, its end schedules. */
  private async wake(at: number): Promise<void> {
    if (this.pushing || !this.webhook()) return;
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt === null || this.alarmAt > at) await this.setAlarm(at);
  }

  /** Sets the alarm for the earliest due push. */
  private async schedule(): Promise<void> {
    if (!this.webhook()) return;
    const next = this.store.nextDue();
    if (next !== null) await this.wake(Math.max(next, Date.now()));
  }

  private async setAlarm(at: number): Promise<void> {
    await this.ctx.storage.setAlarm(at);
    this.alarmAt = at;
  }
}
