/**
 * After a restart of the queue, pushes that were in flight are due again at
 * once, not after the webhook's timeout (docs/routing.md, "Independent
 * delivery"): a push attempt is claimed in memory and its row stays due, so
 * the restarted object finds it due. A queue of schema v10 claimed in
 * storage (`pushing = 1`, `available_at` at timeout + backoff); the v11
 * migration makes such deliveries due now.
 */
import { abortAllDurableObjects, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  callbackRequest,
  callWorker,
  deliveryRows,
  drain,
  queueStub,
  received,
  receiverUrl,
  routedApp,
  settlePumps,
  textMessage,
  WEBHOOK_SECRET,
} from "../support/wecom.js";

const TEN_MINUTES = 10 * 60 * 1000;

function restartApp(path: (bucket: string) => string, webhook: Record<string, unknown> = {}) {
  const { app, environment, settings } = routedApp(
    (bucket) => ({ hook: { webhook: { url: `${receiverUrl()}/${path(bucket)}`, secret: WEBHOOK_SECRET, timeoutMs: 30_000, ...webhook } } }),
    "restart",
  );
  return {
    app,
    settings,
    async send(...contents: string[]) {
      for (const [i, content] of contents.entries()) {
        const response = await callWorker(await callbackRequest(app, textMessage(content, String(7700 + i))), environment);
        expect(response.status).toBe(200);
      }
    },
  };
}

const contentOf = (body: string) => (JSON.parse(body) as { event: { Content: string } }).event.Content;

/**
 * Builds, in storage, what a queue of schema v10 that died mid-batch leaves:
 * `inFlight` claimed (pushing = 1, attempts 1, due only after timeout +
 * backoff), and `backingOff` waiting out a backoff after a failed attempt
 * (pushing = 0). `dueAt` is the far moment both would otherwise be due.
 */
async function diedMidBatch(app: string, inFlight: string, backingOff: string, paused: boolean): Promise<number> {
  const dueAt = Date.now() + TEN_MINUTES;
  await runInDurableObject(queueStub(app), (_, state) => {
    const sql = state.storage.sql;
    sql.exec("UPDATE meta SET value = '10' WHERE key = 'schema'");
    // As v10 kept them: each event's JSON in `events`, and none of v12's columns on the deliveries.
    sql.exec("UPDATE events SET body = (SELECT d.body FROM deliveries d WHERE d.seq = events.seq AND d.body IS NOT NULL) WHERE body = ''");
    for (const column of ["id", "body", "size", "received_at"]) sql.exec(`ALTER TABLE deliveries DROP COLUMN ${column}`);
    for (const { seq, body } of sql.exec<{ seq: number; body: string }>("SELECT seq, body FROM events").toArray()) {
      const content = contentOf(body);
      if (content === inFlight) sql.exec("UPDATE deliveries SET pushing = 1, attempts = 1, available_at = ? WHERE seq = ?", dueAt, seq);
      if (content === backingOff) {
        sql.exec("UPDATE deliveries SET pushing = 0, attempts = 1, available_at = ?, last_error = 'attempt 1: webhook answered 503' WHERE seq = ?", dueAt, seq);
      }
    }
    sql.exec("UPDATE destinations SET paused = ? WHERE name = 'hook'", paused ? 1 : 0);
  });
  await evictDurableObject(queueStub(app));
  return dueAt;
}

describe("after a restart", () => {
  it("a v10 queue's push that was in flight is due at once after the upgrade (pushing cleared), one backing off keeps its time; pushed as soon as pushing resumes", async () => {
    const { app, settings, send } = restartApp((bucket) => `ok/${bucket}`);
    // Paused while the state is built: nothing pushes meanwhile.
    await queueStub(app).setPaused(true, "hook", app, settings);
    await send("in flight", "backing off");
    const dueAt = await diedMidBatch(app, "in flight", "backing off", true);

    // The first call wakes the object: its constructor (and the migration) has run before this reads.
    const rows = await deliveryRows(app);
    expect(rows.map((r) => [contentOf(r.body), r.state, r.attempts, r.pushing])).toEqual([
      ["in flight", "queued", 1, 0],
      ["backing off", "queued", 1, 0],
    ]);
    expect(rows[0]!.available_at).toBe(0);
    expect(rows[1]!.available_at).toBe(dueAt);
    const schema = await runInDurableObject(queueStub(app), (_, state) => [
      state.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema'").one().value,
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'deliveries_pushing'").toArray().length,
      state.storage.sql.exec<{ sql: string }>("SELECT sql FROM sqlite_master WHERE name = 'deliveries_by_key'").one().sql,
    ]);
    // v11 keeps the (now always empty) pushing index, so that a rollback to v10 still wakes, and narrows
    // the order-key index to the deliveries that have a key.
    expect(schema).toEqual(["12", 1, "CREATE INDEX deliveries_by_key ON deliveries (dest, order_key, seq) WHERE order_key IS NOT NULL AND state <> 'dead'"]);
    const stats = (await queueStub(app).stats(app)).destinations[0]!;
    expect([stats.depth, stats.queued, stats.retrying, stats.leased]).toEqual([2, 1, 1, 0]);

    await queueStub(app).setPaused(false, "hook");
    await settlePumps(app);
    expect((await received(app)).map((r) => [contentOf(r.body), r.status])).toEqual([["in flight", 200]]);
    expect((await deliveryRows(app)).map((r) => [contentOf(r.body), r.available_at])).toEqual([["backing off", dueAt]]);
  });

  it("the queue pushes it by itself once woken, without anyone running its alarm, long before its timeout", async () => {
    const { app, settings, send } = restartApp((bucket) => `ok/${bucket}`);
    await queueStub(app).setPaused(true, "hook", app, settings);
    await send("in flight", "backing off");
    await diedMidBatch(app, "in flight", "backing off", false);
    // Any call wakes it (a callback, a pull, the sweep's sync); then only workerd's own alarm runs.
    const woken = Date.now();
    expect((await queueStub(app).stats(app)).destinations[0]!.paused).toBe(false);
    while ((await received(app)).length === 0 && Date.now() - woken < 5_000) await scheduler.wait(20);
    expect((await received(app)).map((r) => [contentOf(r.body), r.status])).toEqual([["in flight", 200]]);
    expect(Date.now() - woken).toBeLessThan(5_000);
    await settlePumps(app);
    expect((await deliveryRows(app)).map((r) => contentOf(r.body))).toEqual(["backing off"]);
  });

  it("a queue killed while its push hangs pushes again right after it restarts, not after the 30 s timeout; the cut attempt is not counted", async () => {
    const { app, send } = restartApp((bucket) => `slow/1500/${bucket}`);
    await send("hanging");
    // The push is out: claimed in memory, its row left due as it was, nothing written.
    let stats = (await queueStub(app).stats(app)).destinations[0]!;
    for (let i = 0; i < 200 && stats.leased !== 1; i++) {
      await scheduler.wait(10);
      stats = (await queueStub(app).stats(app)).destinations[0]!;
    }
    expect([stats.depth, stats.queued, stats.leased, stats.retrying]).toEqual([1, 0, 1, 0]);
    const claimed = await deliveryRows(app);
    expect(claimed.map((r) => [r.state, r.pushing, r.attempts])).toEqual([["queued", 0, 0]]);
    expect(claimed[0]!.available_at).toBeLessThanOrEqual(Date.now());

    await abortAllDurableObjects();
    const restarted = Date.now();
    // Woken by a call, the queue pushes again at once; the slow receiver records each request after 1.5 s.
    await queueStub(app).stats(app);
    while ((await received(app)).length < 2 && Date.now() - restarted < 15_000) await scheduler.wait(50);
    const got = await received(app);
    expect(got.map((r) => [contentOf(r.body), r.status])).toEqual([
      ["hanging", 200],
      ["hanging", 200],
    ]);
    // The same event and webhook-id; the attempt cut short by the restart was never recorded, so this one is attempt 1 again.
    expect(got.map((r) => [r.headers["webhook-id"], r.headers["wecom-edge-attempt"]])).toEqual([
      [claimed[0]!.id, "1"],
      [claimed[0]!.id, "1"],
    ]);
    // 1.5 s of the receiver, and a little more: well within the timeout.
    expect(Date.now() - restarted).toBeLessThan(10_000);
    await drain(app);
    expect(await deliveryRows(app)).toEqual([]);
    expect((await queueStub(app).stats(app)).destinations[0]!.delivered).toBe(1);
  }, 30_000);
});
