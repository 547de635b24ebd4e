/**
 * AppQueue: one Durable Object per app, between WeCom and the intranet. A
 * thin shell over parts that each own their tables: events (stored once),
 * deliveries (one per destination an event matched, ../destinations/),
 * streams, replies, credentials and refusals. This class owns the single
 * alarm, the app's settings, one push pump per destination, and the RPC
 * surface the routes call. docs/delivery.md, "Delivery guarantees";
 * docs/routing.md; docs/architecture.md, "Storage schema".
 */
import { DurableObject } from "cloudflare:workers";
import type { Alert } from "../alerts/alerts.js";
import { deadLetterAlert, refusalBurstAlert } from "../alerts/alerts.js";
import { currentAlerts } from "../alerts/config.js";
import { DEFAULT_DESTINATION } from "../config/destinations.js";
import { AlertGate, type RaiseEnv } from "../alerts/raise.js";
import { deliveryBody } from "../destinations/body.js";
import { Pusher } from "../destinations/pusher.js";
import { DeliveryStore, type DestinationState } from "../destinations/store.js";
import { Feed } from "../feed/feed.js";
import { SocketStore } from "../feed/sockets.js";
import { Waiters } from "../feed/waiters.js";
import { encodeUtf8 } from "../lib/bytes.js";
import { isFetcher } from "../lib/checks.js";
import { logQueue } from "../log.js";
import type { StreamState } from "../wecom/bot.js";
import { MAX_STREAM_BYTES } from "../wecom/reply.js";
import { registryOf, type QueueEnv } from "./bindings.js";
import { CredentialStore } from "./credentials.js";
import { QueueDb } from "./db.js";
import { EventStore } from "./events.js";
import { CommitGroup } from "./group.js";
import { isLease, newLease, notHeldReason, type NotHeldReason } from "./lease.js";
import { RefusalStore, type Refusal } from "./refusals.js";
import { ReplyStore, type ReplyClaim } from "./replies.js";
import { decodeSettings, type DestinationSettings, type QueueSettings } from "./settings.js";
import { STREAM_KEEP_MS, STREAM_PURGE_BATCH, StreamStore } from "./streams.js";
import { TicketStore, type KeptTicket, type SuiteTicket } from "./tickets.js";
import { KfStore, type KfAccount, type KfCallback } from "./kf.js";

/** `text` cut to at most `maxBytes` of UTF-8, never inside a character. */
function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = encodeUtf8(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

export const QUEUE_LIMITS = {
  /** Events held per app (each once, however many destinations it waits for), dead letters included. */
  maxDepth: 500_000,
  /** Bytes of event JSON held per app, each event once, dead letters included. */
  maxBytes: 1024 * 1024 * 1024,
  /** Bytes of one event's JSON (a Durable Object's SQLite holds values up to 2 MB). */
  maxEventBytes: 1_900_000,
  /** How long a delivered event's id is remembered, so that WeCom's resend is not queued twice. */
  dedupWindowMs: 24 * 60 * 60 * 1000,
  /** Refused callbacks kept per app, for the admin API. */
  refusalsKept: 100,
  /** Event JSON read at once: for one pull answer, one list of dead letters, one push batch (RPC allows 32 MiB). */
  readBytes: 16 * 1024 * 1024,
  /**
   * Bytes of JSON, at most, that the one delivery of an event carries in its
   * row (docs/architecture.md, "Storage schema"). Larger JSON stays in
   * `events`: SQLite would spill the row onto overflow pages, and rewrite
   * them on every lease and retry.
   */
  carriedBytes: 800,
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
  /** The destinations it matched, in configuration order, each with its order key (docs/routing.md). */
  readonly routes: readonly { readonly name: string; readonly key: string | null }[];
  /** What to count it as when it matched none: `text`, `event/change_contact/update_tag`… */
  readonly kind: string;
  /** A suite's suite_ticket, kept if it is the newest (docs/providers.md, "The latest ticket"), routed or not. */
  readonly ticket?: SuiteTicket;
  /** A 微信客服 callback of an app with `kf` (docs/kf.md): its Token is kept, and it folds into a held event of its OpenKfId. */
  readonly kf?: KfCallback;
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
  /** Matched no destination: remembered for dedup and counted, not stored. */
  | { readonly status: "unrouted" }
  /** `reply`: what the reply endpoint answered the first copy ("" for nothing), if remembered. */
  | { readonly status: "duplicate"; readonly reply?: string }
  /** A 微信客服 callback folded into held event `id`, which now stands for `count` callbacks (docs/kf.md). */
  | { readonly status: "coalesced"; readonly id: string; readonly count: number }
  | { readonly status: "full"; readonly reason: string }
  | { readonly status: "too_large"; readonly reason: string };

export interface Pulled {
  /** Event JSON texts (or what the destination's transform made of them), oldest first. */
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

/** One destination's part of the stats (docs/routing.md, "Seeing destinations"). */
export interface DestinationStats {
  name: string;
  /** False for a destination no longer in the app's configuration: it keeps what it holds until purged. */
  configured: boolean;
  mode: "push" | "pull" | null;
  ordered: boolean;
  rate: { perSecond: number | null; maxInFlight: number | null } | null;
  paused: boolean;
  /** `down`: consecutive failures; its events wait without spending attempts (docs/routing.md, "Health"). */
  health: "up" | "down";
  downSince: string | null;
  depth: number;
  queued: number;
  leased: number;
  retrying: number;
  delivered: number;
  dead: number;
  oldestAgeSeconds: number | null;
  lastError: { at: string; message: string } | null;
  lastDeliveredAt: string | null;
}

export interface QueueStats {
  app: string;
  /** False for a queue whose app is no longer in WECOM_APPS. */
  configured: boolean;
  /** The mode of an app with one destination; "mixed" when its destinations push and pull. */
  mode: "push" | "pull" | "mixed" | null;
  paused: boolean;
  /** Deliveries waiting, held, leased or backing off, over all destinations. */
  depth: number;
  /** Events held, each once however many destinations it waits for. */
  events: number;
  /** Bytes of event JSON held, each event once, dead letters included. */
  bytes: number;
  /** Bytes of AI-bot stream content held. */
  streamBytes: number;
  /** Waiting to be pushed or pulled; with `leased` and `retrying`, the depth. */
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
  destinations: DestinationStats[];
  /** Events that matched no destination, by kind (docs/routing.md, "Unrouted events"). */
  unrouted: Record<string, number>;
  /** 微信客服 callbacks folded into a held event of their OpenKfId instead of queued (docs/kf.md, "Coalescing"). */
  kfCoalesced: number;
}

export interface DeadLetter {
  readonly id: string;
  readonly destination: string;
  readonly receivedAt: number;
  readonly attempts: number;
  readonly lastError: string | null;
  /** The stored event JSON, to be spliced into an answer as it is. */
  readonly body: string;
}

export class AppQueue extends DurableObject<QueueEnv & RaiseEnv> {
  // The database and the parts that each own their tables: set by attach(), at construction and when the queue is dropped.
  private db!: QueueDb;
  private events!: EventStore;
  private deliveries!: DeliveryStore;
  private streams!: StreamStore;
  private replies!: ReplyStore;
  private credentials!: CredentialStore;
  private refusalLog!: RefusalStore;
  private sockets!: SocketStore;
  private tickets!: TicketStore;
  private kf!: KfStore;
  /** WebSocket consumers of pull destinations (docs/feed.md). */
  private readonly feed: Feed;
  /** Long-polls waiting for something to lease. */
  private readonly waiters = new Waiters();
  /** The app this queue serves, once it has stored anything. */
  private app: string | null;
  /** The app's settings as last handed over (JSON, and parsed). */
  private settingsJson: string | null;
  private settings: QueueSettings | null;
  /** The alarm as this object last set or read it: undefined until read. */
  private alarmAt: number | null | undefined;
  /** One push pump per destination, made on first use. */
  private readonly pushers = new Map<string, Pusher>();
  /** Holds back alerts the outbox would rate-limit, and counts them (docs/operating.md, "Alerts"). */
  private readonly alerts = new AlertGate();
  /** The sweep said this queue's app left WECOM_APPS. */
  private removed: boolean;
  /** Callbacks arriving together are committed together (./group.ts). */
  private readonly group = new CommitGroup();

  constructor(ctx: DurableObjectState, env: QueueEnv & RaiseEnv) {
    super(ctx, env);
    this.attach(new QueueDb(ctx.storage));
    this.feed = new Feed(ctx, this.feedHost());
    this.app = this.db.getMeta("app");
    this.settingsJson = this.db.getMeta("settings");
    this.settings = this.settingsJson === null ? null : decodeSettings(this.settingsJson);
    this.removed = this.db.getMeta("removed") === "1";
    void ctx.blockConcurrencyWhile(async () => {
      // A queue not registered yet (one of 0.1, or whose registration failed) is now, so that the
      // admin API and the sweep know it.
      if (this.app !== null && this.db.getMeta("registered") === null) await this.register(this.app);
      // Pushes in flight when this object stopped need nothing: their rows stayed due (DeliveryStore.claim).
      // What sockets gone with the restart held is due now, for those that reconnect.
      for (const name of this.feed.releaseGone()) this.changed(name);
      await this.schedule();
    });
  }

  // ---- the Worker's side: commit before ack ----

  /**
   * Stores an accepted callback durably, with a delivery per destination it
   * matched; the Worker answers WeCom only after this returns. Callbacks
   * that arrive together run in one turn and share its commit (./group.ts).
   */
  async enqueue(app: string, settingsJson: string, event: QueuedEvent): Promise<EnqueueResult> {
    await this.group.join();
    const now = Date.now();
    await this.adopt(app, settingsJson);
    const result = this.storeEvent(event, now);
    // An opened stream's purge needs the alarm, whether or not a push destination (whose pump sets it) takes the message.
    if (event.stream && (result.status === "queued" || result.status === "unrouted" || result.status === "full")) {
      await this.wake(event.stream.expiresAt + STREAM_KEEP_MS);
    }
    return result;
  }

  /**
   * enqueue's work, without a break from its duplicate check to its answer:
   * the callbacks of one group each run whole, in the order they came, so
   * that a copy among them is a duplicate and limits hold.
   */
  private storeEvent(event: QueuedEvent, now: number): EnqueueResult {
    if (event.credential !== undefined) this.credentials.count(event.credential, now);
    if (event.ticket) this.tickets.keep(event.ticket, now);
    if (this.events.seen(event.id, now)) return this.duplicate(event.id, now);
    if (event.kf) {
      const folded = this.foldKf(event, event.kf, now);
      if (folded) return folded;
    }
    const size = encodeUtf8(event.body).length;
    if (size > QUEUE_LIMITS.maxEventBytes) {
      return { status: "too_large", reason: `event is ${size} bytes; at most ${QUEUE_LIMITS.maxEventBytes} are queued` };
    }
    if (event.stream) this.streams.open(event.stream.id, event.stream.placeholder, event.stream.expiresAt, now);
    if (event.routes.length === 0) {
      if (this.events.holds(event.id)) return this.duplicate(event.id, now);
      this.events.unrouted(event.id, event.kind, now);
      return { status: "unrouted" };
    }
    const { events, bytes } = this.events.counts();
    // A resend of an event still held is a duplicate, even when the queue is full.
    if (events >= QUEUE_LIMITS.maxDepth || bytes + size > QUEUE_LIMITS.maxBytes) {
      if (this.events.holds(event.id)) return this.duplicate(event.id, now);
      return events >= QUEUE_LIMITS.maxDepth
        ? { status: "full", reason: `queue holds ${events} events (limit ${QUEUE_LIMITS.maxDepth})` }
        : { status: "full", reason: `queue holds ${bytes} bytes (limit ${QUEUE_LIMITS.maxBytes})` };
    }
    const stored = this.db.transaction(() => {
      // An event that goes to one destination is stored in its delivery's row, when small: delivering it reads that row alone.
      const carried = event.routes.length === 1 && size <= QUEUE_LIMITS.carriedBytes ? { id: event.id, body: event.body, size, receivedAt: event.receivedAt } : null;
      const seq = this.events.insert(event.id, carried === null ? event.body : null, size, event.receivedAt, event.routes.length);
      if (seq !== null) this.deliveries.add(seq, event.routes, now, carried);
      if (seq !== null && event.kf) this.kf.holding(event.kf.openKfId, seq, 1);
      return seq !== null;
    });
    // Held already, or new: either way its push destinations get going (in case starting them failed then),
    // and its pull destinations' waiting consumers hear of it.
    for (const { name } of event.routes) {
      this.kick(name);
      if (stored) this.changed(name);
    }
    return stored ? { status: "queued" } : this.duplicate(event.id, now);
  }

  /**
   * A 微信客服 callback: its Token is kept; while the event of its OpenKfId's
   * earlier callbacks is held untouched at the same destinations, it folds
   * into that one (its JSON becomes this callback's, with `"coalesced"`: how
   * many it stands for), since one sync_msg fetches every message. Null: it
   * is queued as an event of its own.
   */
  private foldKf(event: QueuedEvent, kf: KfCallback, now: number): EnqueueResult | null {
    return this.db.transaction(() => {
      const held = this.kf.received(kf, event.receivedAt);
      if (held === null || event.routes.length === 0) return null;
      if (!this.deliveries.untouched(held.seq, event.routes.map((r) => r.name))) return null;
      const count = held.n + 1;
      const folded = this.events.fold(held.seq, event.routes.length, event.id, (heldId) => coalescedBody(event.body, heldId, count), now);
      if (folded === null) return null;
      if (folded.inDelivery) this.deliveries.refold(event.routes[0]!.name, held.seq, folded.body, folded.size);
      this.kf.folded(kf.openKfId, count);
      return { status: "coalesced" as const, id: folded.id, count };
    });
  }

  private duplicate(id: string, now: number): EnqueueResult {
    const reply = this.replies.get(id, now);
    return reply === undefined ? { status: "duplicate" } : { status: "duplicate", reply };
  }

  /** Which copy of event `id` asks the reply endpoint: the first; the others wait for its answer (docs/replies.md, "Reply endpoint"). */
  async claimReply(id: string): Promise<ReplyClaim> {
    return this.replies.claim(id, Date.now());
  }

  /** Remembers what the reply endpoint answered event `id` ("" for nothing; undefined: no usable answer), for copies waiting and WeCom's resends. */
  async rememberReply(id: string, reply: string | undefined): Promise<void> {
    this.replies.remember(id, reply, Date.now());
  }

  /**
   * Tells the queue its app's live settings (null: the app left WECOM_APPS).
   * Writes only when they change. Answers whether this queue holds anything.
   */
  async sync(app: string, settingsJson: string | null, bySweep = false): Promise<{ holds: boolean }> {
    if (this.app === null && this.events.counts().events === 0) return { holds: false };
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
    this.streams.countRefresh();
    if (credential !== undefined) this.credentials.count(credential, now);
    const stream = this.streams.get(id);
    if (!stream) return { id, content: "", finish: true, msgItem: null };
    if (stream.finish === 0 && stream.expiresAt <= now) {
      const content = truncateUtf8(stream.content + timeoutText, MAX_STREAM_BYTES);
      this.streams.update(stream, content, true, null, true);
      return { id, content, finish: true, msgItem: null };
    }
    return { id, content: stream.content, finish: stream.finish === 1, msgItem: stream.msgItem };
  }

  /** The intranet's answer, so far or whole, for the next refresh to show. */
  async updateStream(id: string, update: StreamUpdate): Promise<StreamUpdateResult> {
    const stream = this.streams.get(id);
    if (!stream) return { status: "unknown" };
    if (stream.finish === 1) return { status: stream.timedOut === 1 ? "expired" : "finished" };
    if (stream.expiresAt <= Date.now()) return { status: "expired" };
    // The placeholder is the gateway's, not part of the answer: a first append replaces it.
    const content = update.append && stream.answered === 1 ? stream.content + update.content : update.content;
    const bytes = encodeUtf8(content).length;
    if (bytes > MAX_STREAM_BYTES) return { status: "too_large" };
    this.streams.update(stream, content, update.finish, update.msgItem);
    return { status: "ok", finish: update.finish, bytes };
  }

  // ---- pull (docs/delivery.md, "Pulling from the queue") ----

  /**
   * Leases up to `max` of destination `name`'s due deliveries, oldest first,
   * for `leaseSeconds`, under one new lease handle. With nothing to lease
   * and `waitSeconds` > 0, waits until something can be leased (a commit,
   * a release, a lease or backoff running out) or the time is up (docs/feed.md, "Long-poll").
   */
  async pull(app: string, settingsJson: string, name: string, max: number, leaseSeconds: number, waitSeconds = 0, waitId?: string): Promise<Pulled> {
    await this.adopt(app, settingsJson);
    const none: Pulled = { events: [], attempts: [], ids: [], lease: null };
    return this.untilDue(name, Date.now() + waitSeconds * 1000, waitId, none, async (now) => {
      const until = now + leaseSeconds * 1000;
      const { drained: _, ...pulled } = await this.lease(app, name, max, newLease(until), until);
      return pulled.ids.length > 0 ? pulled : null;
    });
  }

  /**
   * A sharded app's long-poll (docs/sharding.md, "Reading a sharded app"):
   * answers true as soon as destination `name` has something due here, false
   * after `waitSeconds` or once cancelled. It leases nothing: the Worker then
   * pulls from the shard that answered first.
   */
  async ready(app: string, settingsJson: string, name: string, waitSeconds: number, waitId?: string): Promise<boolean> {
    await this.adopt(app, settingsJson);
    return this.untilDue(name, Date.now() + waitSeconds * 1000, waitId, false, (now) => {
      const next = this.deliveries.nextDue(name);
      return next !== null && next <= now ? true : null;
    });
  }

  /**
   * A long-poll's loop: `attempt` until it answers (not null); between tries,
   * a wait for something of destination `name` to become due (a commit, a
   * release, a lease or backoff running out), until `deadline`. `none` once
   * the time is up, the destination's waiting pulls are full, or the client
   * went away (cancelWait): what it would lease would sit out a lease nobody
   * holds.
   */
  private async untilDue<T>(name: string, deadline: number, waitId: string | undefined, none: T, attempt: (now: number) => Promise<T | null> | T | null): Promise<T> {
    for (;;) {
      const now = Date.now();
      if (this.waiters.isCancelled(waitId)) return none;
      const answer = await attempt(now);
      if (answer !== null) return answer;
      if (now >= deadline || !this.waiters.room(name)) return none;
      const next = this.deliveries.nextDue(name);
      await this.waiters.wait(name, next === null ? deadline : Math.min(deadline, Math.max(next, now + 1)), waitId);
    }
  }

  /** The client of a waiting pull went away (the Worker saw its request end): that pull answers empty, leasing nothing. */
  async cancelWait(waitId: string): Promise<void> {
    this.waiters.cancel(waitId, Date.now());
  }

  /**
   * Leases up to `max` of destination `name`'s due deliveries under `lease`
   * until `until`: a pull's batch, or a socket's. Fewer come back when their
   * JSON would pass QUEUE_LIMITS.readBytes. A delivery leased `maxAttempts`
   * times, older than maxAgeHours, or whose transform fails becomes a dead
   * letter instead, and the batch is refilled. `drained`: nothing more was
   * due when it read, so a feed round need not read again.
   */
  private async lease(app: string, name: string, max: number, lease: string, until: number): Promise<Pulled & { readonly drained: boolean }> {
    const settings = this.settings?.destinations.get(name);
    const now = Date.now();
    const pulled: Pulled = { events: [], attempts: [], ids: [], lease: null };
    if (settings?.mode !== "pull") return { ...pulled, drained: true };
    // Whether the last read found all that was due: fewer rows than asked, and room left for the largest event.
    let drained = false;
    const dead: string[] = [];
    let lastError: string | null = null;
    let bytes = 0;
    // Each round reads only what it returns or kills; a round that killed nothing is the last.
    let full = false;
    for (let round = 0; round < PULL_REFILLS && pulled.ids.length < max && !full; round++) {
      const room = QUEUE_LIMITS.readBytes - bytes;
      const due = this.deliveries.due(name, now, max - pulled.ids.length, room);
      drained = due.length < max - pulled.ids.length && due.reduce((sum, row) => sum + row.size, 0) + QUEUE_LIMITS.maxEventBytes <= room;
      let killed = 0;
      const store = this.deliveries;
      for (const row of due) {
        const made = row.attempts >= settings.maxAttempts ? { ok: false as const, error: `leased ${row.attempts} times without an ack` } : deliveryBody(settings, row, now);
        const body = made instanceof Promise ? await made : made;
        // A transform took a turn: a drop meanwhile leaves nothing of what was read.
        if (this.deliveries !== store) return { events: [], attempts: [], ids: [], lease: null, drained: true };
        if (!body.ok) {
          if (this.deliveries.kill(name, row, body.error, now)) {
            lastError = body.error;
            dead.push(row.id);
            killed++;
            logQueue({ app, destination: name, eventId: row.id, outcome: "dead", status: 0, attempts: row.attempts, detail: body.error });
          }
          continue;
        }
        // What goes out counts, not what is stored: a transform's result may be larger than its event.
        const size = settings.transform === null ? row.size : encodeUtf8(body.body).length;
        if (pulled.ids.length > 0 && bytes + size > QUEUE_LIMITS.readBytes) {
          full = true;
          drained = false;
          break;
        }
        if (!this.deliveries.lease(name, row, lease, until, now)) continue;
        pulled.events.push(body.body);
        pulled.attempts.push(row.attempts + 1);
        pulled.ids.push(row.id);
        bytes += size;
      }
      if (killed === 0 || due.length === 0) break;
    }
    // After the writes above: a rare pull that dead-letters waits for one call to the alert outbox.
    if (dead.length > 0) await this.alerts.raise(this.env, deadLetterAlert(app, "pull", dead, lastError, this.alertLabel(name)));
    return { ...pulled, lease: pulled.events.length > 0 ? lease : null, drained };
  }

  /** Acks deliveries of `name` held under `lease`; with a null lease, any live one (the unfenced ack of 0.1). */
  async ack(name: string, ids: readonly string[], lease: string | null): Promise<AckResult> {
    const now = Date.now();
    // Each id once, as nack counts them.
    const unique = [...new Set(ids)];
    const acked = this.deliveries.ack(name, unique, lease, now);
    // An ordered destination's next event of a key may be due now (also one ordered until lately).
    if (acked.size > 0 && this.deliveries.holdsKeys(name)) this.changed(name);
    const reason = lease === null ? "unknown" : notHeldReason(lease, now);
    const notAcked = unique.filter((id) => !acked.has(id)).map((id) => ({ id, reason }));
    return { acked: acked.size, notAcked };
  }

  /** Releases deliveries of `name` held under `lease`: each is due again after `delaySeconds`. */
  async nack(name: string, ids: readonly string[], lease: string, delaySeconds: number): Promise<ReleaseResult> {
    const now = Date.now();
    const notReleased: NotHeld[] = [];
    let released = 0;
    // Each id once, as ack counts them.
    for (const id of new Set(ids)) {
      if (isLease(lease) && this.deliveries.release(name, id, lease, now, now + delaySeconds * 1000)) released++;
      else notReleased.push({ id, reason: notHeldReason(lease, now) });
    }
    if (released > 0) this.changed(name);
    return { released, notReleased };
  }

  // ---- the WebSocket feed (docs/feed.md) ----

  /**
   * Opens a feed socket (the Worker checked the token): the request carries
   * the destination and lease time in headers. 101, or 429 when full.
   */
  override async fetch(request: Request): Promise<Response> {
    const name = request.headers.get(FEED_HEADERS.destination);
    const leaseSeconds = Number(request.headers.get(FEED_HEADERS.leaseSeconds));
    if (name === null || request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !Number.isInteger(leaseSeconds) || leaseSeconds < 1) {
      return new Response(null, { status: 400 });
    }
    // Nothing is sent before the client gives credit, but for a sharded app's list of shards (docs/sharding.md).
    const shards = request.headers.get(FEED_HEADERS.shards);
    const hello = shards === null ? undefined : JSON.stringify({ type: "shards", shards: shards.split(",").map(Number) });
    return this.feed.open(name, leaseSeconds, Date.now(), hello);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await this.feed.message(ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.feed.closed(ws);
    try {
      // Complete the closing handshake (1005 and 1006 are not codes one may send).
      ws.close(code === 1005 || code === 1006 ? 1000 : code);
    } catch {
      // Closed already.
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.feed.closed(ws);
  }

  /**
   * Something of destination `name` may be leasable now: its waiting pulls
   * try again, its sockets with credit are fed (and the alarm set for what
   * falls due later). A commit to a pull destination nobody is waiting on
   * costs no more than that look.
   */
  private changed(name: string): void {
    if (this.destinationSettings(name)?.mode !== "pull") return;
    this.waiters.notify(name);
    if (!this.feed.wantsEvents(name)) return;
    const app = this.app;
    this.ctx.waitUntil(
      this.feed.feed(name).then(
        () => this.scheduleFed(name),
        (error: unknown) => {
          logQueue({ app: app ?? "", destination: name, outcome: "feed_failed", detail: error instanceof Error ? error.name : "unknown" });
          return this.schedule();
        },
      ),
    );
  }

  /**
   * After a feed of destination `name`: only its own need of the alarm can
   * have changed. While a socket of it has credit, its next delivery due (a
   * lease or a nack's delay running out) needs the alarm; once the credit
   * ran out, the credit frame that comes next feeds and schedules again.
   */
  private async scheduleFed(name: string): Promise<void> {
    if (!this.feed.wantsEvents(name)) return;
    const at = this.deliveries.nextDue(name);
    if (at !== null) await this.wake(Math.max(at, Date.now()));
  }

  private feedHost() {
    return {
      lease: (name: string, max: number, lease: string, until: number) => this.lease(this.app ?? "", name, max, lease, until),
      ack: (name: string, ids: readonly string[], lease: string) => this.ack(name, ids, lease),
      nack: (name: string, ids: readonly string[], lease: string, delaySeconds: number) => this.nack(name, ids, lease, delaySeconds),
      release: (lease: string) => this.deliveries.releaseLease(lease, Date.now()),
      changed: (name: string) => this.changed(name),
      sockets: () => this.sockets,
    };
  }

  // ---- push: the pumps and the alarm ----

  /** Starts destination `name`'s pump, if it pushes and is not pumping already. */
  private kick(name: string): void {
    if (this.app === null || this.destinationSettings(name)?.mode !== "push" || this.deliveries.state(name).paused) return;
    const pusher = this.pusher(this.app, name);
    if (pusher.busy) return;
    const run = pusher.kick().then(
      () => this.schedule(),
      (error: unknown) => {
        logQueue({ app: this.app!, destination: name, outcome: "pump_failed", detail: error instanceof Error ? error.name : "unknown" });
        return this.schedule();
      },
    );
    this.ctx.waitUntil(run);
  }

  private pusher(app: string, name: string): Pusher {
    let pusher = this.pushers.get(name);
    if (!pusher) {
      pusher = new Pusher(name, this.pumpHost(app));
      this.pushers.set(name, pusher);
    }
    return pusher;
  }

  private pumpHost(app: string) {
    const deliveries = this.deliveries;
    return {
      app,
      store: deliveries,
      readBytes: QUEUE_LIMITS.readBytes,
      settings: (name: string) => this.destinationSettings(name),
      current: (store: DeliveryStore) => this.deliveries === store,
      wake: (at: number) => this.wake(at),
      raise: (alert: Alert) => this.ctx.waitUntil(this.alerts.raise(this.env, alert)),
      label: (name: string) => this.alertLabel(name),
      known: (name: string) => this.deliveries.names().includes(name) || this.destinationSettings(name) !== undefined,
      binding: (name: string) => {
        const binding = (this.env as unknown as Record<string, unknown>)[name];
        return isFetcher(binding) ? binding : undefined;
      },
    };
  }

  /**
   * Starts the pump of every destination with something due, and drops
   * streams gone for a while. It does not wait for the pumps: a destination
   * that hangs holds up no other's retries.
   */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    this.streams.purge(now, STREAM_PURGE_BATCH);
    for (const name of this.destinationNames()) {
      const at = this.wakeAt(name);
      if (at === null || at > now) continue;
      this.kick(name);
      // For a pull destination: a socket's lease or a nack's delay ran out.
      this.changed(name);
    }
    await this.schedule();
  }

  // ---- admin ----

  /**
   * Stats. `settingsJson` is the app's live settings (null: no longer
   * configured), remembered as `sync` does; without it, the remembered ones.
   */
  async stats(app: string, settingsJson?: string | null): Promise<QueueStats> {
    if (settingsJson !== undefined) await this.sync(app, settingsJson);
    const now = Date.now();
    // A queue that holds nothing does not take settings (sync), but its stats show them.
    const view = settingsJson ? decodeSettings(settingsJson) : this.settings;
    const destinations = this.destinationNames(view).map((name) => this.destinationStats(name, now, view?.destinations.get(name)));
    const totals = this.events.counts();
    const sum = (key: "depth" | "queued" | "leased" | "retrying" | "delivered" | "dead") => destinations.reduce((n, d) => n + d[key], 0);
    const modes = new Set(destinations.flatMap((d) => (d.mode === null ? [] : [d.mode])));
    const latest = (key: "lastError" | "lastDeliveredAt") =>
      destinations.map((d) => d[key]).reduce<(typeof destinations)[number][typeof key]>((a, b) => (b !== null && (a === null || at(b) > at(a)) ? b : a), null);
    const ages = destinations.map((d) => d.oldestAgeSeconds).filter((age): age is number => age !== null);
    return {
      app,
      configured: settingsJson === undefined ? !this.removed : settingsJson !== null,
      mode: modes.size === 0 ? null : modes.size === 1 ? [...modes][0]! : "mixed",
      paused: destinations.length > 0 && destinations.every((d) => d.paused),
      depth: sum("depth"),
      events: totals.events,
      bytes: totals.bytes,
      streamBytes: totals.streamBytes,
      queued: sum("queued"),
      leased: sum("leased"),
      retrying: sum("retrying"),
      delivered: sum("delivered"),
      dead: sum("dead"),
      oldestAgeSeconds: ages.length === 0 ? null : Math.max(...ages),
      refreshes: totals.refreshes,
      credentials: this.credentials.all(),
      lastError: latest("lastError") as QueueStats["lastError"],
      lastDeliveredAt: latest("lastDeliveredAt") as string | null,
      destinations,
      unrouted: this.events.unroutedCounts(),
      kfCoalesced: this.kf.coalesced(),
    };
  }

  private destinationStats(name: string, now: number, settings: DestinationSettings | undefined): DestinationStats {
    const state: DestinationState = this.deliveries.state(name);
    const push = settings?.mode !== "pull";
    const inFlight = this.pushers.get(name)?.inFlight.size ?? 0;
    const waiting = state.live > 0 ? this.deliveries.waitingCount(name, now) : 0;
    const oldest = state.live > 0 ? this.deliveries.oldest(name) : null;
    return {
      name,
      configured: settings !== undefined && !this.removed,
      mode: settings?.mode ?? null,
      ordered: settings?.ordered ?? false,
      rate: settings?.rate ?? null,
      paused: state.paused,
      health: state.downSince === null ? "up" : "down",
      downSince: iso(state.downSince),
      depth: state.live,
      // A push out now keeps its row due (DeliveryStore.claim): waiting counts only backoffs (and a probe's row, rarely both).
      queued: push ? Math.max(0, state.live - inFlight - waiting) : state.live - waiting,
      leased: push ? inFlight : waiting,
      retrying: push ? waiting : 0,
      delivered: state.delivered,
      dead: state.dead,
      oldestAgeSeconds: oldest === null ? null : Math.max(0, Math.floor((now - oldest) / 1000)),
      lastError: state.lastError === null ? null : { at: iso(state.lastErrorAt)!, message: state.lastError },
      lastDeliveredAt: iso(state.lastDelivered),
    };
  }

  /** Dead letters of destination `name`, or of every destination. */
  async deadLetters(limit: number, name?: string): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    for (const destination of name === undefined ? this.destinationNames() : [name]) {
      if (out.length >= limit) break;
      for (const row of this.deliveries.deadLetters(destination, limit - out.length, QUEUE_LIMITS.readBytes)) {
        out.push({ id: row.id, destination, receivedAt: row.receivedAt, attempts: row.attempts, lastError: row.lastError, body: row.body });
      }
    }
    return out;
  }

  /** The stored event JSON of dead letter `id` (of `name`, or of any destination), as it is; null: no such dead letter. */
  async deadLetterBody(id: string, name?: string): Promise<string | null> {
    for (const destination of name === undefined ? this.destinationNames() : [name]) {
      const body = this.deliveries.deadLetterBody(destination, id);
      if (body !== null) return body;
    }
    return null;
  }

  /**
   * Puts dead letters back (all when `ids` is null) with a fresh attempt count, for `name` or every destination.
   * With the app's live settings (`settingsJson`), adopted first: a dead letter replayed after a fix is
   * pushed with the fixed webhook or transform, not the one it died with (docs/routing.md, "Transformations").
   */
  async replay(ids: readonly string[] | null, name?: string, app?: string, settingsJson?: string): Promise<number> {
    if (app !== undefined && settingsJson !== undefined && this.app !== null) await this.adopt(app, settingsJson);
    const now = Date.now();
    let replayed = 0;
    for (const destination of name === undefined ? this.destinationNames() : [name]) {
      const n = this.deliveries.replay(destination, ids, now);
      replayed += n;
      if (n > 0) {
        this.kick(destination);
        this.changed(destination);
      }
    }
    await this.schedule();
    return replayed;
  }

  /** Deletes dead letters (all when `ids` is null) of `name` or every destination. */
  async purgeDead(ids: readonly string[] | null, name?: string): Promise<number> {
    const now = Date.now();
    let purged = 0;
    for (const destination of name === undefined ? this.destinationNames() : [name]) purged += this.deliveries.purgeDead(destination, ids, now);
    return purged;
  }

  /** 微信客服 account `openKfId` as kept (docs/kf.md): its newest Token and cursor; null for one never seen. */
  async kfAccount(openKfId: string): Promise<KfAccount | null> {
    return this.kf.get(openKfId);
  }

  /** Sets the sync_msg cursor of `openKfId` if it is still `expected` (docs/kf.md, "Cursor"). */
  async setKfCursor(openKfId: string, cursor: string, expected: string | null): Promise<{ set: boolean; cursor: string | null }> {
    return this.kf.setCursor(openKfId, cursor, expected);
  }

  /** Suite `suiteId`'s newest suite_ticket as kept (docs/providers.md); watched from now on if it was not. */
  async suiteTicket(suiteId: string): Promise<KeptTicket> {
    return this.tickets.get(suiteId, Date.now());
  }

  /** Keeps a refused callback of this app; the last QUEUE_LIMITS.refusalsKept are kept. */
  async recordRefusal(refusal: Refusal): Promise<void> {
    this.refusalLog.record(refusal, QUEUE_LIMITS.refusalsKept);
    await this.watchRefusals(refusal.at);
  }

  /** Each destination's oldest undelivered event and depth, for the sweep's alert (docs/operating.md, "Alerts"): one index entry each. */
  async backlog(): Promise<{ destination: string; mode: "push" | "pull"; oldestAgeSeconds: number | null; depth: number; paused: boolean }[]> {
    const now = Date.now();
    return this.destinationNames().flatMap((name) => {
      const settings = this.destinationSettings(name);
      const state = this.deliveries.state(name);
      if (state.live === 0) return [];
      const oldest = this.deliveries.oldest(name);
      return [{ destination: name, mode: settings?.mode ?? "push", oldestAgeSeconds: oldest === null ? null : Math.max(0, Math.floor((now - oldest) / 1000)), depth: state.live, paused: state.paused }];
    });
  }

  async refusals(): Promise<Refusal[]> {
    return this.refusalLog.recent(QUEUE_LIMITS.refusalsKept);
  }

  /** Deletes every event, dead or live, and forgets this queue. Answers how many events went. */
  async purgeAll(app: string): Promise<number> {
    const { events } = this.events.counts();
    // Out of the registry first: an enqueue that slips in while this awaits registers the queue anew.
    await registryOf(this.env).remove(app);
    await this.ctx.storage.deleteAlarm();
    await this.db.deleteAll();
    // Its sockets held leases of a queue that is gone: they close, and their consumers reconnect to the new one.
    this.feed.closeAll(1012, "the queue was dropped; reconnect");
    this.alarmAt = null;
    this.attach(new QueueDb(this.ctx.storage));
    this.pushers.clear();
    this.app = null;
    this.settingsJson = null;
    this.settings = null;
    this.removed = false;
    return events;
  }

  /** Pauses or resumes destination `name`, or every destination (of `settingsJson`, when given: a queue that holds nothing yet). */
  async setPaused(paused: boolean, name?: string, app?: string, settingsJson?: string): Promise<boolean> {
    if (app !== undefined && settingsJson !== undefined) await this.adopt(app, settingsJson);
    for (const destination of name === undefined ? this.destinationNames() : [name]) {
      this.deliveries.setPaused(destination, paused);
      if (!paused) this.kick(destination);
    }
    if (!paused) await this.schedule();
    return paused;
  }

  /** Forgets destination `name`, no longer configured, and everything it holds; null when it is configured. */
  async dropDestination(name: string, app?: string, settingsJson?: string): Promise<number | null> {
    if (app !== undefined && settingsJson !== undefined) await this.adopt(app, settingsJson);
    if (this.destinationSettings(name) !== undefined) return null;
    this.pushers.delete(name);
    return this.deliveries.drop(name, Date.now());
  }

  private setRemoved(removed: boolean): void {
    if (removed === this.removed) return;
    this.db.setMeta("removed", removed ? "1" : null);
    this.removed = removed;
  }

  /** More than refusalBurst.count refusals within refusalBurst.minutes: reads at most the refusals kept. */
  private async watchRefusals(now: number): Promise<void> {
    const burst = currentAlerts(this.env)?.refusalBurst;
    const app = this.app ?? this.ctx.id.name;
    if (!burst || app === undefined) return;
    const codes = this.refusalLog.codesSince(now - burst.minutes * 60_000, QUEUE_LIMITS.refusalsKept);
    const total = codes.reduce((sum, code) => sum + code.count, 0);
    if (total <= burst.count) return;
    const top = codes[0]!;
    await this.alerts.raise(this.env, refusalBurstAlert(app, total, burst.minutes, burst.count, top.code, top.count, top.hint));
  }

  // ---- settings and the alarm ----

  /** The configured destinations, then those that hold something but are configured no longer. */
  private destinationNames(settings: QueueSettings | null = this.settings): string[] {
    const names = [...(settings?.destinations.keys() ?? [])];
    for (const name of this.deliveries.names()) if (!names.includes(name)) names.push(name);
    return names;
  }

  /** Alerts name a destination, but not the `default` one of an app that has only that (as before destinations). */
  private alertLabel(name: string): string | undefined {
    return name === DEFAULT_DESTINATION && this.settings?.destinations.size === 1 ? undefined : name;
  }

  private destinationSettings(name: string): DestinationSettings | undefined {
    return this.settings?.destinations.get(name);
  }

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
      this.db.setMeta("app", app);
      this.app = app;
    }
    this.setRemoved(false);
    if (settingsJson !== this.settingsJson) {
      if (!bySweep && this.settingsJson !== null) await registryOf(this.env).forgetTold(app);
      this.db.setMeta("settings", settingsJson);
      this.settingsJson = settingsJson;
      this.settings = decodeSettings(settingsJson);
      for (const name of this.destinationNames()) this.kick(name);
      await this.schedule();
    }
  }

  /** Uses `db` and a new part for each of its tables: every store is made here, once, for the constructor and a drop alike. */
  private attach(db: QueueDb): void {
    this.db = db;
    ({
      events: this.events,
      deliveries: this.deliveries,
      streams: this.streams,
      replies: this.replies,
      credentials: this.credentials,
      refusals: this.refusalLog,
      sockets: this.sockets,
      tickets: this.tickets,
      kf: this.kf,
    } = stores(db));
  }

  private async register(app: string): Promise<void> {
    await registryOf(this.env).add(app);
    this.db.setMeta("registered", "1");
  }

  /** Makes sure an alarm comes at or before `at`. */
  private async wake(at: number): Promise<void> {
    if (this.alarmAt === undefined) {
      const stored = await this.ctx.storage.getAlarm();
      // Another wake may have set it meanwhile (callbacks of one group run together): that one stands.
      if (this.alarmAt === undefined) this.alarmAt = stored;
    }
    if (this.alarmAt === null || this.alarmAt > at) await this.setAlarm(at);
  }

  /** Sets the alarm for the earliest moment a pump that is not running, or the stream purge, needs it. */
  private async schedule(): Promise<void> {
    let next: number | null = null;
    for (const name of this.destinationNames()) {
      const settings = this.destinationSettings(name);
      // A batch under way: should this object stop meanwhile, the alarm comes back for it (a batch may outlast its first alarm).
      if (this.pushers.get(name)?.busy) {
        const at = Date.now() + (settings?.webhook?.timeoutMs ?? 0) + 1_000;
        if (next === null || at < next) next = at;
        continue;
      }
      const at = this.wakeAt(name);
      if (at !== null && (next === null || at < next)) next = at;
    }
    const streams = this.streams.nextExpiry();
    if (streams !== null && (next === null || streams < next)) next = streams;
    if (next !== null) await this.wake(Math.max(next, Date.now()));
  }

  /**
   * When destination `name` next needs the alarm, or null: its pump (its
   * Pusher decides: push, not paused, due or probing), or, for a pull
   * destination whose sockets have credit, its next delivery due.
   */
  private wakeAt(name: string): number | null {
    if (this.app === null) return null;
    if (this.destinationSettings(name)?.mode === "pull") return this.feed.wantsEvents(name) ? this.deliveries.nextDue(name) : null;
    return this.pusher(this.app, name).nextWake();
  }

  private async setAlarm(at: number): Promise<void> {
    // Known before the write is done, so that a wake meanwhile writes only an earlier alarm, after this one.
    this.alarmAt = at;
    try {
      await this.ctx.storage.setAlarm(at);
    } catch (error) {
      this.alarmAt = undefined;
      throw error;
    }
  }
}

/** How the Worker tells the queue which destination a feed socket is for, and its lease time. */
export const FEED_HEADERS = { destination: "wecom-edge-destination", leaseSeconds: "wecom-edge-lease-seconds", shards: "wecom-edge-shards" } as const;

/** How many times one pull refills a batch whose deliveries died on the way. */
const PULL_REFILLS = 10;

function stores(db: QueueDb) {
  const events = new EventStore(db, QUEUE_LIMITS.dedupWindowMs);
  return {
    events,
    deliveries: new DeliveryStore(db, events),
    streams: new StreamStore(db, events),
    replies: new ReplyStore(db, QUEUE_LIMITS.dedupWindowMs),
    credentials: new CredentialStore(db),
    refusals: new RefusalStore(db),
    sockets: new SocketStore(db),
    tickets: new TicketStore(db),
    kf: new KfStore(db),
  };
}


/** A later 微信客服 callback's event JSON under the held event's id, with how many callbacks it stands for (docs/kf.md). */
function coalescedBody(body: string, heldId: string, count: number): string {
  // The JSON starts {"id":"evt_…", (src/wecom/event.ts): ids are all as long, and the last } closes it.
  const head = '{"id":';
  const rest = body.slice(head.length + JSON.stringify(heldId).length);
  return `${head}${JSON.stringify(heldId)}${rest.slice(0, -1)},"coalesced":${count}}`;
}

function iso(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}

function at(value: string | { at: string }): number {
  return Date.parse(typeof value === "string" ? value : value.at);
}
