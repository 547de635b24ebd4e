/**
 * A queue written by wecom-edge 0.3 (schema 6: one implicit destination) is
 * migrated in place as it wakes (docs/routing.md, "Upgrading"): each event
 * becomes a delivery of the `default` destination with its state, attempts,
 * lease, backoff and last error; bodies stay byte-exact, seqs and the
 * AUTOINCREMENT high mark are kept; counters, pause, last error and last
 * delivery move to the destination's row.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../src/queue/schema.js";
import { DEFAULT_ROUTE, newBucket, queueStub } from "../support/wecom.js";

const PULL_V6 = JSON.stringify({ mode: "pull", maxAttempts: 20 });
const LEASE = "zzzzzz.0123456789abcdef01234567";

/** What 0.3 stored, one row per event: waiting, leased, backing off, dead; and one acked (gone), leaving a gap in seq. */
const V6_EVENTS = [
  { id: "evt_waiting", body: '{"id":"evt_waiting","n":12345678901234567890}', state: "queued", attempts: 0, available_at: 0, lease: null, last_error: null },
  { id: "evt_leased", body: '{"id":"evt_leased","text":"你好"}', state: "queued", attempts: 1, available_at: 9_999_999_999_999, lease: LEASE, last_error: null },
  { id: "evt_backoff", body: '{"id":"evt_backoff"}', state: "queued", attempts: 3, available_at: 9_999_999_999_998, lease: null, last_error: "attempt 3: webhook answered 503" },
  { id: "evt_acked", body: "{}", state: "queued", attempts: 0, available_at: 0, lease: null, last_error: null },
  { id: "evt_dead", body: '{"id":"evt_dead"}', state: "dead", attempts: 20, available_at: 1_000, lease: null, last_error: "leased 20 times without an ack" },
] as const;

const bytes = (text: string) => new TextEncoder().encode(text).length;

describe("a queue of wecom-edge 0.3 (schema 6)", () => {
  it("is migrated on wake: every event kept as a delivery of `default`, nothing lost, doubled or reordered", async () => {
    const app = newBucket("v6");
    const receivedAt = Date.now() - 60_000;
    await runInDurableObject(queueStub(app), (_, state) => {
      const sql = state.storage.sql;
      for (const table of ["events", "seen", "meta", "counters", "replies", "streams", "credentials", "refusals", "deliveries", "destinations", "unrouted", "sockets", "suite_tickets", "kf_accounts"]) {
        sql.exec(`DROP TABLE IF EXISTS ${table}`);
      }
      for (const migration of MIGRATIONS.slice(0, 6)) sql.exec(migration);
      sql.exec("INSERT INTO meta (key, value) VALUES ('schema', '6'), ('app', ?), ('registered', '1'), ('settings', ?), ('paused', '1')", app, PULL_V6);
      sql.exec("INSERT INTO meta (key, value) VALUES ('last_error', ?), ('last_delivered', '2026-12-01T10:00:00.000Z')", JSON.stringify({ at: "2026-12-01T09:00:00.000Z", message: "attempt 3: webhook answered 503" }));
      for (const e of V6_EVENTS) {
        sql.exec(
          "INSERT INTO events (id, body, size, received_at, state, attempts, available_at, last_error, lease) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
          e.id,
          e.body,
          bytes(e.body),
          receivedAt,
          e.state,
          e.attempts,
          e.available_at,
          e.last_error,
          e.lease,
        );
      }
      sql.exec("DELETE FROM events WHERE id = 'evt_acked'");
      const live = V6_EVENTS.filter((e) => e.state === "queued" && e.id !== "evt_acked");
      sql.exec(
        "UPDATE counters SET live = ?, live_bytes = ?, dead = 1, dead_bytes = ?, delivered = 7, refreshes = 2",
        live.length,
        live.reduce((n, e) => n + bytes(e.body), 0),
        bytes(V6_EVENTS[4].body),
      );
    });
    await evictDurableObject(queueStub(app));

    const stats = await queueStub(app).stats(app);
    const kept = V6_EVENTS.filter((e) => e.id !== "evt_acked");
    const inside = await runInDurableObject(queueStub(app), (_, state) => {
      const sql = state.storage.sql;
      return {
        events: sql.exec("SELECT seq, id, body, size, received_at, pending FROM events ORDER BY seq").toArray(),
        deliveries: sql
          .exec("SELECT dest, seq, state, attempts, available_at, lease, last_error, order_key, pushing FROM deliveries ORDER BY seq")
          .toArray(),
        counters: sql.exec("SELECT events, bytes, refreshes, stream_bytes FROM counters").one(),
        destination: sql
          .exec("SELECT name, live, dead, delivered, paused, last_error, last_error_at, last_delivered, down_since, failures FROM destinations")
          .toArray(),
        meta: sql.exec<{ key: string }>("SELECT key FROM meta ORDER BY key").toArray().map((r) => r.key),
        schema: sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema'").one().value,
      };
    });
    // Seqs as 0.3 gave them: 1, 2, 3, then the acked 4 is missing, 5.
    const seqs = [1, 2, 3, 5];
    expect(inside.events).toEqual(kept.map((e, i) => ({ seq: seqs[i], id: e.id, body: e.body, size: bytes(e.body), received_at: receivedAt, pending: 1 })));
    expect(inside.deliveries).toEqual(
      kept.map((e, i) => ({
        dest: "default",
        seq: seqs[i],
        state: e.state,
        attempts: e.attempts,
        available_at: e.available_at,
        lease: e.lease,
        last_error: e.last_error,
        order_key: null,
        pushing: 0,
      })),
    );
    const heldBytes = kept.reduce((n, e) => n + bytes(e.body), 0);
    expect(inside.counters).toEqual({ events: 4, bytes: heldBytes, refreshes: 2, stream_bytes: 0 });
    expect(inside.destination).toEqual([
      {
        name: "default",
        live: 3,
        dead: 1,
        delivered: 7,
        paused: 1,
        last_error: "attempt 3: webhook answered 503",
        last_error_at: Date.parse("2026-12-01T09:00:00.000Z"),
        last_delivered: Date.parse("2026-12-01T10:00:00.000Z"),
        down_since: null,
        failures: 0,
      },
    ]);
    expect(inside.meta).toEqual(["app", "registered", "schema", "settings"]);
    expect(inside.schema).toBe("12");
    expect(stats).toMatchObject({ mode: "pull", paused: true, depth: 3, dead: 1, delivered: 7, events: 4, bytes: heldBytes, refreshes: 2 });

    // The lease still holds, the waiting event is pulled, the backing-off one waits, the dead one stays dead.
    const stub = queueStub(app);
    expect(await stub.ack("default", ["evt_leased"], LEASE)).toEqual({ acked: 1, notAcked: [] });
    const pulled = await stub.pull(app, PULL_V6, "default", 10, 60);
    expect(pulled.ids).toEqual(["evt_waiting"]);
    expect(pulled.events).toEqual([V6_EVENTS[0].body]);
    expect((await stub.deadLetters(10)).map((d) => [d.id, d.destination, d.attempts, d.lastError, d.body])).toEqual([
      ["evt_dead", "default", 20, "leased 20 times without an ack", V6_EVENTS[4].body],
    ]);
    // A new event takes a seq above 0.3's high mark, never one of an event that was.
    expect(await stub.enqueue(app, PULL_V6, { id: "evt_new", body: '{"id":"evt_new"}', receivedAt: Date.now(), ...DEFAULT_ROUTE })).toEqual({ status: "queued" });
    const newSeq = await runInDurableObject(stub, (_, state) => state.storage.sql.exec<{ seq: number }>("SELECT seq FROM events WHERE id = 'evt_new'").one().seq);
    expect(newSeq).toBe(6);
    // Stored as v12 stores an event of one destination, beside those kept as they were: its JSON in its delivery's row.
    const stored = await runInDurableObject(stub, (_, state) =>
      state.storage.sql.exec("SELECT e.body AS inEvents, d.body AS inDelivery FROM events e JOIN deliveries d ON d.seq = e.seq WHERE e.id = 'evt_new'").one(),
    );
    expect(stored).toEqual({ inEvents: "", inDelivery: '{"id":"evt_new"}' });
    const next = await stub.pull(app, PULL_V6, "default", 10, 60);
    expect([next.ids, next.events]).toEqual([["evt_new"], ['{"id":"evt_new"}']]);
  });
});
