/**
 * The WebSocket feed (docs/feed.md): pull destinations' consumers hold a
 * socket open to their app's queue, give credit, and get each event the
 * moment it can be leased. Every event sent is leased to its socket (one
 * lease handle a socket); a socket that closes has its events due again at
 * once. Sockets use the Hibernation API: an idle one keeps the object asleep,
 * and its state lives in its attachment.
 */
import { newSocketLease } from "../queue/lease.js";
import { eventFrame, FrameError, MAX_OUTSTANDING, parseFrame, PING_FRAME, PONG_FRAME, type ClientFrame } from "./frames.js";
import type { SocketStore } from "./sockets.js";

/** Sockets open at once on one destination; the next is refused with 429. */
export const MAX_SOCKETS = 32;
/** Events leased to one socket in one go (a pull's largest batch). */
const FEED_BATCH = 100;

/** What a socket carries through hibernation (its attachment, well under 2 KiB). */
interface SocketState {
  readonly dest: string;
  readonly lease: string;
  readonly leaseSeconds: number;
  /** Events the client still allows. */
  credit: number;
  /** Events sent and not yet named by an ack or nack frame. */
  outstanding: number;
}

/** Events leased in one go, in the order they were leased. */
export interface Leased {
  readonly ids: readonly string[];
  readonly events: readonly string[];
  readonly attempts: readonly number[];
  /** Nothing more was due when these were read: no other socket need ask. */
  readonly drained: boolean;
}

/** What the feed needs of its queue. */
export interface FeedHost {
  /** Leases up to `max` due deliveries of `name` under `lease` until `until`, as a pull does (dead letters, refills). */
  lease(name: string, max: number, lease: string, until: number): Promise<Leased>;
  /** The pull API's ack and nack, under the socket's lease: their answers go back as `acked` and `released` frames. */
  ack(name: string, ids: readonly string[], lease: string): Promise<{ readonly acked: number; readonly notAcked: readonly object[] }>;
  nack(name: string, ids: readonly string[], lease: string, delaySeconds: number): Promise<{ readonly released: number; readonly notReleased: readonly object[] }>;
  /** Makes every delivery leased under `lease` due now; answers how many. */
  release(lease: string): number;
  /** Something of `name` may be due now: wake long-polls, feed sockets, and set the alarm for what is due later. */
  changed(name: string): void;
  /** The socket table of the queue as it is now (a purge makes a new one). */
  sockets(): SocketStore;
}

const tagOf = (name: string): string => `feed:${name}`;

export class Feed {
  /** The live state of each open socket this object has touched since it woke, by lease. */
  private readonly states = new Map<string, SocketState>();
  /** Each socket's state by its WebSocket object, so that its attachment is read once a wake (a wake hands out new objects). */
  private readonly bySocket = new WeakMap<WebSocket, SocketState>();
  /** Destinations being fed now, and those asked again meanwhile. */
  private readonly feeding = new Set<string>();
  private readonly again = new Set<string>();

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly host: FeedHost,
  ) {
    // A ping is answered by the runtime, without waking this object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  /**
   * After a restart, sockets are gone but their rows are not: their
   * deliveries are due again now. Answers the destinations that got some back.
   */
  releaseGone(): Set<string> {
    const live = new Set(this.ctx.getWebSockets().map((ws) => this.state(ws)?.lease));
    const changed = new Set<string>();
    for (const { lease, dest } of this.host.sockets().all()) {
      if (live.has(lease)) continue;
      if (this.host.release(lease) > 0) changed.add(dest);
      this.host.sockets().closed(lease);
    }
    return changed;
  }

  /** Whether destination `name` has a socket with credit (the alarm then wakes for its leases and backoffs). */
  wantsEvents(name: string): boolean {
    return this.sockets(name).some((ws) => (this.state(ws)?.credit ?? 0) > 0);
  }

  /** Opens a socket on destination `name`: the 101 answer, or a 429 when MAX_SOCKETS are open. `hello`: a first frame to send. */
  open(name: string, leaseSeconds: number, now: number, hello?: string): Response {
    if (this.sockets(name).length >= MAX_SOCKETS) return new Response(null, { status: 429 });
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    const state: SocketState = { dest: name, lease: newSocketLease(), leaseSeconds, credit: 0, outstanding: 0 };
    this.ctx.acceptWebSocket(server, [tagOf(name)]);
    this.states.set(state.lease, state);
    this.bySocket.set(server, state);
    this.save(server, state);
    this.host.sockets().opened(state.lease, name, now);
    if (hello !== undefined) server.send(hello);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** One client frame; a bad one closes its socket with 1008 and releases what it held. */
  async message(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const state = this.state(ws);
    if (!state) return;
    let frame: ClientFrame;
    try {
      frame = parseFrame(message);
      // An ack's or nack's credit counts after the ids it names are no longer outstanding.
      const allowed = frame.type === "credit" ? state.credit + state.outstanding + frame.n : state.credit + Math.max(0, state.outstanding - frame.ids.length) + frame.credit;
      if (allowed > MAX_OUTSTANDING) throw new FrameError(`credit would allow more than ${MAX_OUTSTANDING} events outstanding`);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.close(ws, 1008, error.message);
      return;
    }
    switch (frame.type) {
      case "credit":
        this.answered(ws, state, [], frame.n);
        return;
      // The queue's ack and nack say themselves when something became due (the next of an ordered key, a release).
      case "ack": {
        const result = await this.host.ack(state.dest, frame.ids, state.lease);
        this.answered(ws, state, frame.ids, frame.credit);
        send(ws, JSON.stringify({ type: "acked", ...result }));
        return;
      }
      case "nack": {
        const result = await this.host.nack(state.dest, frame.ids, state.lease, frame.delaySeconds);
        this.answered(ws, state, frame.ids, frame.credit);
        send(ws, JSON.stringify({ type: "released", ...result }));
        return;
      }
    }
  }

  /** The socket closed or failed: its events are due again at once, for the others. */
  closed(ws: WebSocket): void {
    const state = this.state(ws);
    if (!state) return;
    this.states.delete(state.lease);
    this.host.sockets().closed(state.lease);
    if (this.host.release(state.lease) > 0) this.host.changed(state.dest);
  }

  /**
   * Sends destination `name`'s due events to its sockets with credit, one
   * batch a socket in turn, until credit or events run out. One feed a
   * destination at a time; a call meanwhile makes it go round once more.
   */
  async feed(name: string): Promise<void> {
    if (this.feeding.has(name)) {
      this.again.add(name);
      return;
    }
    this.feeding.add(name);
    try {
      do {
        this.again.delete(name);
        await this.round(name);
      } while (this.again.has(name));
    } finally {
      this.feeding.delete(name);
    }
  }

  private async round(name: string): Promise<void> {
    for (;;) {
      const ready = this.sockets(name).filter((ws) => (this.state(ws)?.credit ?? 0) > 0);
      if (ready.length === 0) return;
      for (const ws of ready) {
        // Closed while another socket was fed: skipped.
        const state = this.state(ws);
        if (!state || state.credit <= 0) continue;
        const pulled = await this.host.lease(name, Math.min(state.credit, FEED_BATCH), state.lease, Date.now() + state.leaseSeconds * 1000);
        if (pulled.ids.length === 0) return;
        if (!this.states.has(state.lease) || ws.readyState !== WebSocket.OPEN) {
          // Closed while its events were being leased: they go back at once, to the others and to waiting pulls.
          if (this.host.release(state.lease) > 0) this.host.changed(name);
          continue;
        }
        for (let i = 0; i < pulled.ids.length; i++) send(ws, eventFrame(pulled.ids[i]!, pulled.attempts[i]!, pulled.events[i]!));
        state.credit -= pulled.ids.length;
        state.outstanding += pulled.ids.length;
        this.save(ws, state);
        if (pulled.drained) return;
      }
    }
  }

  /**
   * Ids named by an ack or nack frame are no longer outstanding, whatever the
   * answer for each (each entry counts, as a client gives credit per entry);
   * `credit` more events are allowed. With credit, the socket is fed: in the
   * same turn as the ack before it, so that both go in one commit.
   */
  private answered(ws: WebSocket, state: SocketState, ids: readonly string[], credit: number): void {
    state.outstanding = Math.max(0, state.outstanding - ids.length);
    state.credit += credit;
    // A socket that closed during the ack is not brought back.
    if (this.states.get(state.lease) !== state) return;
    this.save(ws, state);
    // Fed, and the alarm set for what falls due later (a lease or a backoff running out).
    if (credit > 0) this.host.changed(state.dest);
  }

  /** Closes every socket (the queue was dropped): what they held is gone with it. */
  closeAll(code: number, reason: string): void {
    this.states.clear();
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.close(code, reason);
      } catch {
        // Closed already.
      }
    }
  }

  private close(ws: WebSocket, code: number, reason: string): void {
    this.closed(ws);
    try {
      ws.close(code, reason.slice(0, 120));
    } catch {
      // Closed already.
    }
  }

  private sockets(name: string): WebSocket[] {
    return this.ctx.getWebSockets(tagOf(name));
  }

  /** The socket's live state; undefined once it closed (or the queue was dropped). */
  private state(ws: WebSocket): SocketState | undefined {
    const known = this.bySocket.get(ws);
    if (known) return this.states.get(known.lease) === known ? known : undefined;
    const stored = ws.deserializeAttachment() as SocketState | null;
    if (!stored) return undefined;
    let state = this.states.get(stored.lease);
    if (!state && this.host.sockets().has(stored.lease)) {
      state = { ...stored };
      this.states.set(state.lease, state);
    }
    if (state) this.bySocket.set(ws, state);
    return state;
  }

  /** Writes the socket's state into its attachment, which outlives this object's memory. */
  private save(ws: WebSocket, state: SocketState): void {
    ws.serializeAttachment(state);
  }
}

function send(ws: WebSocket, frame: string): void {
  try {
    ws.send(frame);
  } catch {
    // The socket closed meanwhile: its close releases what it held.
  }
}
