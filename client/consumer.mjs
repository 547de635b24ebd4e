// wecom-edge/consumer: an intranet consumer of one pull destination, for
// Node 22 and later (docs/consumer.md). It holds the WebSocket feed open
// (docs/feed.md), gives credit as handlers finish, acks what a handler
// finished and nacks, with a backoff, what it threw on. When no socket can be
// opened (many corporate proxies refuse WebSockets) it long-polls instead, and
// says so once. Its only dependency is standardwebhooks, for verifyPush.
import { Webhook } from 'standardwebhooks';

/** How long a long-poll waits at the gateway (its maximum is 25 s). */
const WAIT_SECONDS = 20;
/** After falling back to long-poll, how long before the socket is tried again. */
const POLL_SPELL_MS = 5 * 60_000;
/** Reconnect backoff: 1 s doubling to 30 s, each with up to a third more at random. */
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
/** A ping this often; no pong within PONG_WAIT_MS and the socket is taken for dead, and opened again. */
const PING_EVERY_MS = 30_000;
const PONG_WAIT_MS = 10_000;
/** A socket open this long counts as steady: the reconnect backoff starts again from its smallest. */
const STEADY_MS = 30_000;
/**
 * Acks, nacks and the credit they give back are gathered until none has come
 * for SETTLE_QUIET_MS, or for at most SETTLE_MAX_MS, then sent as one frame
 * each, the credit inside it: a burst of handlers finishing goes as one ack
 * frame however long the burst takes to arrive (each frame costs the gateway
 * a turn and a commit).
 */
const SETTLE_QUIET_MS = 5;
const SETTLE_MAX_MS = 25;

/**
 * Consumes destination `destination` of app `app` at the gateway `url`.
 * `handle(event, {id, attempt})` gets each event JSON (docs/delivery.md); the
 * event is acked when it resolves and nacked when it throws, to come back
 * after 5 s, 10 s, 20 s… (at most 300 s). Answers `stop()`, which takes no
 * more events, waits for the handlers in flight, acks them, and closes.
 */
export function consume(options) {
  const settings = checked(options);
  const group = new Group(settings);
  group.start();
  return () => group.stop();
}

/**
 * The consumers of one destination: one, or, for a sharded app (docs/sharding.md),
 * one per shard, each holding the socket of its shard and sharing out the
 * concurrency (rounded up). The shards are asked for once, at the start.
 */
class Group {
  constructor(settings) {
    this.s = settings;
    this.consumers = [];
    this.stopping = false;
  }

  start() {
    this.started = this.shards().then((shards) => {
      if (this.stopping) return;
      const said = { polling: false };
      const each = shards.length === 1 ? this.s.concurrency : Math.ceil(this.s.concurrency / shards.length);
      for (const shard of shards) {
        const consumer = new Consumer({ ...this.s, concurrency: each, said, ...(shards.length > 1 ? { shard } : {}) });
        this.consumers.push(consumer);
        consumer.start();
      }
    });
  }

  async stop() {
    this.stopping = true;
    await this.started;
    await Promise.all(this.consumers.map((consumer) => consumer.stop()));
  }

  /** The app's shards; [0] for an app of one queue, a gateway without shards, or one that cannot be asked now (the consumer still long-polls every shard). */
  async shards() {
    try {
      const response = await fetch(`${this.s.root}${this.s.path}/shards`, { headers: { authorization: `Bearer ${this.s.token}` } });
      const answer = response.ok ? await response.json() : null;
      if (Array.isArray(answer?.shards) && answer.shards.length > 0 && answer.shards.every(Number.isInteger)) return answer.shards;
    } catch {
      // Asked again at the next start.
    }
    return [0];
  }
}

/**
 * Checks a push (docs/delivery.md, "Verifying the push") with the Standard
 * Webhooks library: `headers` a Headers or a plain object, `body` the raw
 * text, `secret` the webhook's whsec_… secret (or a list, as the gateway
 * signs with each). Answers the parsed event; throws when no signature holds.
 */
export function verifyPush(headers, body, secret) {
  const plain = {};
  const entries = typeof headers?.entries === 'function' ? headers.entries() : Object.entries(headers ?? {});
  for (const [name, value] of entries) plain[String(name).toLowerCase()] = String(value);
  const secrets = Array.isArray(secret) ? secret : [secret];
  let last;
  for (const one of secrets) {
    try {
      return new Webhook(one).verify(body, plain);
    } catch (error) {
      last = error;
    }
  }
  throw last ?? new Error('no secret given');
}

function checked(options) {
  const { url, app, destination = 'default', token, concurrency = 4, leaseSeconds = 60, handle, log = defaultLog } = options ?? {};
  const fail = (message) => {
    throw new TypeError(`wecom-edge/consumer: ${message}`);
  };
  let base;
  try {
    base = new URL(url);
  } catch {
    fail('url must be the gateway\'s URL, such as https://wecom.example.com');
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') fail('url must be http(s)');
  if (typeof app !== 'string' || app === '') fail('app must be the app\'s name');
  if (typeof destination !== 'string' || destination === '') fail('destination must be a pull destination\'s name');
  if (typeof token !== 'string' || token === '') fail('token must be the destination\'s pull token');
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000) fail('concurrency must be a whole number from 1 to 1000');
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 1 || leaseSeconds > 43_200) fail('leaseSeconds must be a whole number from 1 to 43200');
  if (typeof handle !== 'function') fail('handle must be a function of the event');
  if (typeof log !== 'function') fail('log must be a function of a line of text');
  const path = `/queue/${encodeURIComponent(app)}${destination === 'default' ? '' : `/${encodeURIComponent(destination)}`}`;
  const root = base.href.replace(/\/+$/, '');
  return { root, path, token, concurrency, leaseSeconds, handle, log };
}

function defaultLog(line) {
  process.stderr.write(`wecom-edge consumer: ${line}\n`);
}

/** Nack delay after a handler threw on attempt `attempt`. */
function retryDelaySeconds(attempt) {
  return Math.min(300, 5 * 2 ** Math.max(0, attempt - 1));
}

class Consumer {
  constructor(settings) {
    this.s = settings;
    this.stopping = false;
    this.inFlight = new Set();
    this.socket = null;
    this.failures = 0;
    this.pollUntil = 0;
    this.poll = null;
    this.wake = () => {};
    /** Per socket, the acks and nacks gathered for its next frames. */
    this.batches = new Map();
  }

  start() {
    this.done = this.run().catch((error) => this.s.log(`stopped on an unexpected error: ${error?.message ?? error}`));
  }

  /** No more credit and no more pulls; the handlers in flight finish and are acked on their socket, then it closes. */
  async stop() {
    this.stopping = true;
    this.poll?.abort();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    this.wake();
    await this.done;
  }

  async run() {
    while (!this.stopping) {
      if (Date.now() >= this.pollUntil) {
        const session = await this.session();
        if (this.stopping) break;
        if (session.opened) {
          // A socket that lasted resets the backoff; one closed at once (a gateway that refuses it after the handshake) does not.
          if (session.lasted >= STEADY_MS) this.failures = 0;
          this.s.log(`socket closed (${session.code}${session.reason ? ` ${session.reason}` : ''}); reconnecting`);
          await this.backoff();
          continue;
        }
        // The socket did not open. If a pull works, WebSockets are what is refused: long-poll.
        this.pollUntil = Date.now() + POLL_SPELL_MS;
        if (!this.s.said.polling) {
          this.s.said.polling = true;
          this.s.log('the WebSocket feed could not be opened; long-polling instead');
        }
      }
      try {
        await this.pollOnce();
        this.failures = 0;
      } catch (error) {
        if (this.stopping) break;
        this.s.log(`pull failed: ${error.message}`);
        this.pollUntil = 0;
        await this.backoff();
      }
    }
    await Promise.allSettled([...this.inFlight]);
    if (this.socket) {
      const socket = this.socket;
      await new Promise((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) return resolve();
        socket.addEventListener('close', () => resolve(), { once: true });
        socket.close(1000, 'stopped');
      });
    }
  }

  async backoff() {
    this.failures++;
    const ms = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this.failures - 1));
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, ms + Math.random() * (ms / 3));
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** One socket's life: resolves when it closes, saying whether it ever opened. */
  session() {
    return new Promise((resolve) => {
      const shard = this.s.shard === undefined ? '' : `&shard=${this.s.shard}`;
      const url = `${this.s.root.replace(/^http/, 'ws')}${this.s.path}/ws?leaseSeconds=${this.s.leaseSeconds}${shard}`;
      const socket = new WebSocket(url, { headers: { authorization: `Bearer ${this.s.token}` } });
      this.socket = socket;
      let opened = false;
      let openedAt = 0;
      let heartbeat;
      let pongDue;
      socket.addEventListener('open', () => {
        opened = true;
        openedAt = Date.now();
        if (this.stopping) return socket.close(1000, 'stopped');
        this.credit(socket, this.s.concurrency - this.inFlight.size);
        // A connection that died without a word (a NAT or proxy timeout) is found by its missing pong.
        heartbeat = setInterval(() => {
          if (socket.readyState !== WebSocket.OPEN) return;
          socket.send('{"type":"ping"}');
          pongDue ??= setTimeout(() => socket.close(4000, 'no pong'), PONG_WAIT_MS);
        }, PING_EVERY_MS);
      });
      socket.addEventListener('message', (message) => {
        let frame;
        try {
          frame = JSON.parse(String(message.data));
        } catch {
          return;
        }
        if (frame.type === 'event') this.take(socket, frame.event, frame.id, frame.attempts);
        else if (frame.type === 'pong') {
          clearTimeout(pongDue);
          pongDue = undefined;
        }
      });
      let ended = false;
      const end = (code, reason) => {
        if (ended) return;
        ended = true;
        clearInterval(heartbeat);
        clearTimeout(pongDue);
        if (this.socket === socket) this.socket = null;
        resolve({ opened, code, reason, lasted: opened ? Date.now() - openedAt : 0 });
      };
      // Node's WebSocket fires no close after a refused handshake (a 403, a 401): the error ends it then.
      socket.addEventListener('error', () => {
        if (!opened) end(1006, '');
      });
      socket.addEventListener('close', (event) => end(event.code, event.reason));
      this.wake = () => socket.close(1000, 'stopped');
    });
  }

  credit(socket, n) {
    if (n > 0 && !this.stopping && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'credit', n }));
  }

  /** Runs the handler on one event from a socket; acks or nacks on that socket, and gives its credit back. */
  take(socket, event, id, attempt) {
    if (this.stopping) {
      // Sent before the credit stopped: given straight back, for another consumer.
      socket.send(JSON.stringify({ type: 'nack', ids: [id], delaySeconds: 0 }));
      return;
    }
    const run = this.handled(event, id, attempt).then((outcome) => this.settle(socket, id, outcome));
    this.track(run);
  }

  /**
   * Acks or nacks `id` on `socket`, with a credit for it (the frame's
   * `credit`): gathered while others keep settling (SETTLE_QUIET_MS,
   * SETTLE_MAX_MS), so that a busy consumer sends a frame per batch, not
   * per event. Resolves once sent (or once the socket is gone: the gateway
   * then released the event, and it comes back).
   */
  settle(socket, id, outcome) {
    let batch = this.batches.get(socket);
    if (!batch) {
      batch = { acks: [], nacks: new Map(), sent: null, first: Date.now(), timer: null, send: null };
      batch.sent = new Promise((resolve) => {
        batch.send = () => {
          this.batches.delete(socket);
          if (socket.readyState === WebSocket.OPEN) {
            // Each frame gives back the credit of what it settles: the gateway acks and sends the next events in one commit.
            const credit = (k) => (this.stopping ? {} : { credit: k });
            if (batch.acks.length > 0) socket.send(JSON.stringify({ type: 'ack', ids: batch.acks, ...credit(batch.acks.length) }));
            for (const [delaySeconds, ids] of batch.nacks) socket.send(JSON.stringify({ type: 'nack', ids, delaySeconds, ...credit(ids.length) }));
          } else if (this.socket) {
            // Its socket closed meanwhile (the gateway released the events): the handler's place goes to the socket now open.
            this.credit(this.socket, batch.acks.length + [...batch.nacks.values()].reduce((sum, ids) => sum + ids.length, 0));
          }
          resolve();
        };
      });
      this.batches.set(socket, batch);
    }
    if (outcome.ok) batch.acks.push(id);
    else if (batch.nacks.has(outcome.delaySeconds)) batch.nacks.get(outcome.delaySeconds).push(id);
    else batch.nacks.set(outcome.delaySeconds, [id]);
    clearTimeout(batch.timer);
    batch.timer = setTimeout(batch.send, Math.max(0, Math.min(SETTLE_QUIET_MS, batch.first + SETTLE_MAX_MS - Date.now())));
    return batch.sent;
  }

  /** One long-poll, and the events it leased handled and settled under its lease. */
  async pollOnce() {
    const controller = new AbortController();
    this.poll = controller;
    let answer;
    try {
      answer = await this.call('pull', { max: this.s.concurrency, leaseSeconds: this.s.leaseSeconds, waitSeconds: WAIT_SECONDS }, controller.signal);
    } catch (error) {
      if (this.stopping && controller.signal.aborted) return;
      throw error;
    } finally {
      this.poll = null;
    }
    const ids = answer.ids ?? answer.events.map((event) => event.id);
    const outcomes = await Promise.all(answer.events.map((event, i) => this.track(this.handled(event, ids[i], answer.attempts?.[ids[i]] ?? 1))));
    const acked = ids.filter((_, i) => outcomes[i].ok);
    if (acked.length > 0) await this.call('ack', { ids: acked, lease: answer.lease });
    for (const [i, outcome] of outcomes.entries()) {
      if (!outcome.ok) await this.call('nack', { ids: [ids[i]], lease: answer.lease, delaySeconds: outcome.delaySeconds });
    }
  }

  track(promise) {
    this.inFlight.add(promise);
    promise.finally(() => this.inFlight.delete(promise)).catch(() => {});
    return promise;
  }

  /** The handler's outcome for one event; a handler that outlives the lease is warned about. */
  async handled(event, id, attempt) {
    const warn = setTimeout(
      () => this.s.log(`handler for ${id} is still running after leaseSeconds (${this.s.leaseSeconds} s): its lease ran out, and the event may be delivered again`),
      this.s.leaseSeconds * 1000,
    );
    try {
      await this.s.handle(event, { id, attempt });
      return { ok: true };
    } catch (error) {
      const delaySeconds = retryDelaySeconds(attempt);
      this.s.log(`handler failed on ${id} (attempt ${attempt}): ${error?.message ?? error}; again in ${delaySeconds} s`);
      return { ok: false, delaySeconds };
    } finally {
      clearTimeout(warn);
    }
  }

  async call(verb, body, signal) {
    const response = await fetch(`${this.s.root}${this.s.path}/${verb}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.s.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
    const text = await response.text();
    if (response.status === 401) throw new Error(`401: the pull token is wrong, or ${this.s.path} is not a pull destination`);
    if (!response.ok) throw new Error(`${verb} answered ${response.status}: ${text.slice(0, 200)}`);
    return JSON.parse(text);
  }
}
