/**
 * Test helpers that play WeCom: they encrypt and sign callbacks the way
 * WeCom does (with src/crypto, itself checked against independent vectors)
 * and call the Worker's own fetch handler inside workerd.
 */
import { createExecutionContext, evictDurableObject, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, inject } from "vitest";
import { computeMsgSignature, encryptMessage, importEncodingAesKey } from "../../src/crypto/index.js";
import worker from "../../src/index.js";
import { parseConfig } from "../../src/config.js";
import { encodeSettings } from "../../src/queue/settings.js";
import type { AppQueue } from "../../src/queue/app-queue.js";
import type { ReceivedRequest } from "./receiver.js";

export const TEST_APP = {
  token: "kR7tQ2pZ9wXy",
  encodingAESKey: "RbSCtD0MnaZDhN0XnWfLE4RemCSlsi9YgSzN8xg0VRc",
  receiveId: "ww3e40cde07cc21a01",
} as const;

export const WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

export const receiverUrl = (): string => inject("receiverUrl");

let bucketCounter = 0;
/** A fresh name, unique within the run: a receiver bucket and an app (so a queue) of its own. */
export function newBucket(prefix = "b"): string {
  return `${prefix}-${Date.now().toString(36)}-${(bucketCounter++).toString(36)}`;
}

export type AppSettings = Record<string, unknown>;

/** An app that pushes to the test receiver at `path` (e.g. `ok/{bucket}`). */
export function webhookApp(path: string, extra: AppSettings = {}, webhook: AppSettings = {}): AppSettings {
  return {
    ...TEST_APP,
    webhook: { url: `${receiverUrl()}/${path}`, secret: WEBHOOK_SECRET, ...webhook },
    ...extra,
  };
}

export interface TestEnvOptions {
  apps?: Record<string, AppSettings> | string | undefined;
  maxSkewSeconds?: string;
  demo?: boolean;
  debug?: boolean;
}

export function testEnv(options: TestEnvOptions): Record<string, unknown> {
  const out: Record<string, unknown> = { ...env, WECOM_MAX_SKEW_SECONDS: options.maxSkewSeconds ?? "300" };
  if (options.apps === undefined) delete out.WECOM_APPS;
  else out.WECOM_APPS = typeof options.apps === "string" ? options.apps : JSON.stringify(options.apps);
  out.WECOM_DEMO = options.demo ? "1" : "0";
  out.WECOM_DEBUG = options.debug ? "1" : "0";
  return out;
}

/** Calls the Worker's fetch handler with `environment`, as workerd would, and waits for its waitUntil work. */
export async function callWorker(request: Request, environment: Record<string, unknown>): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, environment as never, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

export interface SignedQuery {
  msgSignature: string;
  timestamp: string;
  nonce: string;
}

export async function sign(token: string, encrypt: string, timestamp?: string, nonce?: string): Promise<SignedQuery> {
  const ts = timestamp ?? String(Math.floor(Date.now() / 1000));
  const n = nonce ?? String(Math.floor(Math.random() * 1e10));
  return { msgSignature: await computeMsgSignature(token, ts, n, encrypt), timestamp: ts, nonce: n };
}

export function callbackUrl(app: string, query: Partial<SignedQuery> & { echostr?: string }): string {
  const params = new URLSearchParams();
  if (query.msgSignature !== undefined) params.set("msg_signature", query.msgSignature);
  if (query.timestamp !== undefined) params.set("timestamp", query.timestamp);
  if (query.nonce !== undefined) params.set("nonce", query.nonce);
  if (query.echostr !== undefined) params.set("echostr", query.echostr);
  return `https://wecom-edge.test/callback/${app}?${params}`;
}

export interface CallbackOptions {
  token?: string;
  encodingAESKey?: string;
  receiveId?: string;
  timestamp?: string;
  nonce?: string;
  format?: "xml" | "json";
}

export async function encrypt(plaintext: string, options: CallbackOptions = {}): Promise<string> {
  const aes = await importEncodingAesKey(options.encodingAESKey ?? TEST_APP.encodingAESKey);
  return encryptMessage(aes, plaintext, options.receiveId ?? TEST_APP.receiveId);
}

export function envelope(encrypted: string, format: "xml" | "json" = "xml"): string {
  return format === "xml"
    ? `<xml><ToUserName><![CDATA[${TEST_APP.receiveId}]]></ToUserName><Encrypt><![CDATA[${encrypted}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>`
    : JSON.stringify({ encrypt: encrypted });
}

/** A POST exactly as WeCom would send it: encrypted, enveloped and signed. */
export async function callbackRequest(app: string, plaintext: string, options: CallbackOptions = {}): Promise<Request> {
  const encrypted = await encrypt(plaintext, options);
  const query = await sign(options.token ?? TEST_APP.token, encrypted, options.timestamp, options.nonce);
  return new Request(callbackUrl(app, query), { method: "POST", body: envelope(encrypted, options.format) });
}

/** A POST of `body` signed over `encrypted` (for envelopes the helpers would not build). */
export async function rawCallbackRequest(app: string, body: string, encrypted: string, token = TEST_APP.token): Promise<Request> {
  const query = await sign(token, encrypted);
  return new Request(callbackUrl(app, query), { method: "POST", body });
}

export async function received(bucket: string): Promise<ReceivedRequest[]> {
  const response = await fetch(`${receiverUrl()}/received/${bucket}`);
  return response.json();
}

export async function errorOf(response: Response): Promise<{ status: number; code: unknown; message: string }> {
  const body = (await response.json()) as { error: { code: unknown; message: string } };
  return { status: response.status, code: body.error.code, message: body.error.message };
}

export function textMessage(content: string, msgId = "4561255354251345929"): string {
  return (
    `<xml><ToUserName><![CDATA[${TEST_APP.receiveId}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>` +
    `<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content>` +
    `<MsgId>${msgId}</MsgId><AgentID>1000002</AgentID></xml>`
  );
}

// ---- queues ----

export function queueStub(app: string): DurableObjectStub<AppQueue> {
  return env.QUEUE.getByName(app);
}

/**
 * Fills a queue with `n` small live events for `destination` in one go (as
 * many enqueues would, counters included), then restarts its Durable Object
 * so that it reads them. `layout`: where their JSON is, as today's enqueue
 * stores it or as a queue before schema v12 did.
 */
export async function fillQueue(app: string, n: number, prefix = "filler", destination = "default", layout: "carried" | "inEvents" = "carried"): Promise<void> {
  await runInDurableObject(queueStub(app), (_, state) => {
    const sql = state.storage.sql;
    const now = Date.now();
    state.storage.transactionSync(() => {
      for (let i = 0; i < n; i++) {
        const id = `${prefix}-${i}`;
        const body = JSON.stringify({ id });
        // As an enqueue stores an event of one destination: its JSON in the delivery's row (src/queue/events.ts);
        // "inEvents": as a queue before v12 stored it, its JSON in `events`.
        const carried = layout === "carried";
        const { seq } = sql
          .exec<{ seq: number }>("INSERT INTO events (id, body, size, received_at, pending) VALUES (?, ?, ?, ?, 1) RETURNING seq", id, carried ? "" : body, body.length, now)
          .one();
        sql.exec(
          "INSERT INTO deliveries (dest, seq, state, attempts, available_at, id, body, size, received_at) VALUES (?, ?, 'queued', 0, 0, ?, ?, ?, ?)",
          destination,
          seq,
          ...(carried ? [id, body, body.length, now] : [null, null, null, null]),
        );
      }
      sql.exec("UPDATE counters SET events = events + ?, bytes = bytes + ?", n, n * JSON.stringify({ id: `${prefix}-0` }).length);
      sql.exec("INSERT INTO destinations (name, live) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET live = live + excluded.live", destination, n);
    });
  });
  await evictDurableObject(queueStub(app));
}

export interface EventRow {
  id: string;
  state: string;
  attempts: number;
  available_at: number;
  last_error: string | null;
}

/** What a queued event carries when it goes to an app's one `default` destination (docs/routing.md). */
export const DEFAULT_ROUTE = { routes: [{ name: "default", key: null }], kind: "" } as const;

/** The queue's rows, oldest first, read inside the Durable Object. */
export function queueRows(app: string): Promise<EventRow[]> {
  return runInDurableObject(queueStub(app), (_, state) =>
    state.storage.sql
      .exec<Record<string, string | number | null>>(`SELECT e.id AS id, d.state AS state, d.attempts AS attempts, d.available_at AS available_at, d.last_error AS last_error
         FROM deliveries d JOIN events e ON e.seq = d.seq ORDER BY d.seq, d.dest`)
      .toArray() as unknown as EventRow[],
  );
}

/** Makes every waiting event due now, as if its backoff or lease had run out. */
export function makeDue(app: string): Promise<void> {
  return runInDurableObject(queueStub(app), (_, state) => {
    state.storage.sql.exec("UPDATE deliveries SET available_at = 0 WHERE state = 'queued'");
  });
}

/**
 * Runs the queue's alarm until no push destination has a delivery due and no
 * pump is running, read in one step inside the object: an ordered
 * destination releases its next delivery only at the end of a batch, which
 * two separate reads could miss. Pull and paused destinations are left
 * alone (their deliveries wait for a consumer or a resume). Workerd may also
 * fire the alarm by itself; either way the outcome is the same.
 */
export async function drain(app: string, giveUpAfterMs = 20_000): Promise<void> {
  const stub = queueStub(app);
  const giveUpAt = Date.now() + giveUpAfterMs;
  while (Date.now() < giveUpAt) {
    const pending = await runInDurableObject(stub, (instance, state) => {
      const queue = instance as unknown as { pushers: Map<string, { busy: boolean }>; settings: { destinations: Map<string, { mode: string }> } | null };
      if ([...queue.pushers.values()].some((pusher) => pusher.busy)) return true;
      const push = [...(queue.settings?.destinations ?? new Map<string, { mode: string }>()).entries()].filter(([, d]) => d.mode === "push").map(([name]) => name);
      return push.some(
        (name) =>
          state.storage.sql
            .exec<{ n: number }>(
              "SELECT COUNT(*) AS n FROM deliveries WHERE dest = ? AND state = 'queued' AND available_at <= ? AND dest NOT IN (SELECT name FROM destinations WHERE paused = 1)",
              name,
              Date.now(),
            )
            .one().n > 0,
      );
    });
    if (!pending) return;
    if (!(await runDurableObjectAlarm(stub))) await scheduler.wait(10);
  }
  throw new Error(`queue ${app} did not drain`);
}

/**
 * Runs `operation` inside the app's queue object and adds up the rows its SQL
 * cursors read (`perQuery`: each cursor's count, for an assertion's message):
 * how the tests hold an operation's cost flat however deep the backlog.
 */
export async function rowsRead<T>(app: string, operation: (queue: AppQueue) => Promise<T>): Promise<{ rows: number; perQuery: string; result: T }> {
  return runInDurableObject(queueStub(app), async (instance) => {
    const store = (instance as unknown as { db: { sql: SqlStorage } }).db;
    const real = store.sql;
    const cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[] = [];
    store.sql = {
      exec: (query: string, ...bindings: unknown[]) => {
        const cursor = real.exec(query, ...bindings);
        cursors.push(cursor);
        return cursor;
      },
    } as unknown as SqlStorage;
    try {
      const result = await operation(instance);
      return { rows: cursors.reduce((sum, cursor) => sum + cursor.rowsRead, 0), perQuery: cursors.map((c) => c.rowsRead).join(","), result };
    } finally {
      store.sql = real;
    }
  });
}

// ---- destinations (docs/routing.md) ----

/** A destination's `webhook`: the test receiver at `path` (e.g. `ok/{bucket}`), signed with WEBHOOK_SECRET. */
export function hookTo(path: string, webhook: AppSettings = {}): AppSettings {
  return { url: `${receiverUrl()}/${path}`, secret: WEBHOOK_SECRET, ...webhook };
}

/** An app with `destinations` (name → destination, in the order given) instead of one webhook or pull. */
export function destinationsApp(destinations: Record<string, AppSettings>, extra: AppSettings = {}): AppSettings {
  return { ...TEST_APP, destinations, ...extra };
}

/** A callback's plaintext as WeCom writes it: `<xml>`, the app's ToUserName, then `inner`. */
export function xmlCallback(inner: string): string {
  return `<xml><ToUserName><![CDATA[${TEST_APP.receiveId}]]></ToUserName>${inner}</xml>`;
}

/** The id the gateway gives a callback (src/wecom/event.ts), computed here on its own: SHA-256 of app, receiveId and plaintext, 16 bytes in hex. */
export async function expectedEventId(app: string, plaintext: string, receiveId: string = TEST_APP.receiveId): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${app}\n${receiveId}\n${plaintext}`)));
  return `evt_${[...digest.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Sends each plaintext to `app` as WeCom would, through the Worker with `environment`; each must be answered `success`. Answers their event ids. */
export async function sendCallbacks(app: string, environment: Record<string, unknown>, plaintexts: readonly string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const plaintext of plaintexts) {
    const response = await callWorker(await callbackRequest(app, plaintext), environment);
    expect(await response.text()).toBe("success");
    ids.push(await expectedEventId(app, plaintext));
  }
  return ids;
}

/** The admin API through the Worker, with the tests' ADMIN_TOKEN; `path` follows `/admin/apps`. */
export function adminApi(environment: Record<string, unknown>) {
  const token = (env as unknown as { ADMIN_TOKEN: string }).ADMIN_TOKEN;
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, any> }> => {
    const response = await callWorker(
      new Request(`https://wecom-edge.test/admin/apps${path}`, {
        method,
        headers: { authorization: `Bearer ${token}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
      environment,
    );
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
}

/** What the queue holds: event rows (each event once), and delivery rows per destination by state. */
export function heldRows(app: string): Promise<{ events: string[]; deliveries: Record<string, Record<string, number>> }> {
  return runInDurableObject(queueStub(app), (_, state) => {
    const sql = state.storage.sql;
    const events = sql.exec<{ id: string }>("SELECT id FROM events ORDER BY seq").toArray().map((row) => row.id);
    const deliveries: Record<string, Record<string, number>> = {};
    for (const row of sql.exec<{ dest: string; state: string; n: number }>("SELECT dest, state, COUNT(*) AS n FROM deliveries GROUP BY dest, state ORDER BY dest, state")) {
      (deliveries[row.dest] ??= {})[row.state] = row.n;
    }
    return { events, deliveries };
  });
}

/** Runs the queue's alarm until `done` holds (pushes start at commit; the alarm brings the rest), or throws after `giveUpAfterMs`. */
export async function waitUntil(app: string, done: () => Promise<boolean>, giveUpAfterMs = 10_000): Promise<void> {
  const stub = queueStub(app);
  const giveUpAt = Date.now() + giveUpAfterMs;
  while (!(await done())) {
    if (Date.now() > giveUpAt) throw new Error(`queue ${app}: condition not reached in ${giveUpAfterMs} ms`);
    if (!(await runDurableObjectAlarm(stub))) await scheduler.wait(10);
  }
}


// ---- destinations: ordering, rate, health, restart (docs/routing.md) ----

/**
 * An app whose events go to `destinations` (given the app's name, which is
 * also a fresh receiver bucket), its environment, and the settings JSON its queue is handed.
 */
export function routedApp(destinations: (app: string) => Record<string, unknown>, prefix = "routed", extra: AppSettings = {}) {
  const app = newBucket(prefix);
  const environment = testEnv({ apps: { [app]: { ...TEST_APP, destinations: destinations(app), ...extra } } });
  const settings = encodeSettings(parseConfig({ WECOM_APPS: environment.WECOM_APPS as string }).apps.get(app)!);
  return { app, environment, settings };
}

/** Sets the receiver's `toggle/{bucket}` up (200) or down (503). */
export async function setToggle(bucket: string, state: "up" | "down"): Promise<void> {
  const response = await fetch(`${receiverUrl()}/toggle/${bucket}/${state}`, { method: "PUT" });
  await response.arrayBuffer();
}

/** Waits until no push pump of the app's queue is running (nothing in flight). */
export async function settlePumps(app: string, giveUpAfterMs = 20_000): Promise<void> {
  const giveUpAt = Date.now() + giveUpAfterMs;
  while (Date.now() < giveUpAt) {
    const busy = await runInDurableObject(queueStub(app), (instance) =>
      [...(instance as unknown as { pushers: Map<string, { busy: boolean }> }).pushers.values()].some((pusher) => pusher.busy),
    );
    if (!busy) return;
    await scheduler.wait(10);
  }
  throw new Error(`queue ${app} did not settle`);
}

export interface DeliveryView {
  dest: string;
  id: string;
  state: string;
  attempts: number;
  available_at: number;
  pushing: number;
  key: string | null;
  last_error: string | null;
  /** The event JSON, as stored. */
  body: string;
}

/**
 * Every stored event with its JSON, wherever it is kept: in `events`, or in
 * the row of the one delivery it goes to (src/queue/events.ts, `insert`).
 * For inspection in tests: it looks deliveries up by seq alone.
 */
export const STORED_EVENTS = `SELECT e.seq AS seq, e.id AS id, COALESCE(d.body, e.body) AS body, e.size AS size, e.received_at AS received_at, e.pending AS pending
  FROM events e LEFT JOIN deliveries d ON d.seq = e.seq AND d.body IS NOT NULL`;

/** Every delivery of the app's queue with its event, in commit order (then destination). */
export function deliveryRows(app: string): Promise<DeliveryView[]> {
  return runInDurableObject(queueStub(app), (_, state) =>
    state.storage.sql
      .exec(
        `SELECT d.dest AS dest, e.id AS id, d.state AS state, d.attempts AS attempts, d.available_at AS available_at, d.pushing AS pushing,
           d.order_key AS key, d.last_error AS last_error, COALESCE(d.body, e.body) AS body
         FROM deliveries d JOIN events e ON e.seq = d.seq ORDER BY d.seq, d.dest`,
      )
      .toArray() as unknown as DeliveryView[],
  );
}

