/**
 * A push destination's health (docs/routing.md, "Health"): down after 5
 * consecutive failed attempts of different events over at least 30 s; while
 * down, one probe at a time (5 s, 10 s, 20 s… up to 5 minutes) and no
 * attempt spent, so no dead letter by maxAttempts; up again on the first
 * delivered probe. And maxAgeHours: a delivery older than that dies when the
 * gateway comes to it.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { afterFailure, HEALTH, probeDelayMs, type HealthFields } from "../../src/destinations/health.js";
import { alertsConfig, drainOutbox, resetOutbox, useAlerts, webhookAlerts } from "../alerts/helpers.js";
import {
  callbackRequest,
  callWorker,
  deliveryRows,
  drain,
  makeDue,
  queueStub,
  received,
  receiverUrl,
  routedApp,
  setToggle,
  settlePumps,
  textMessage,
  WEBHOOK_SECRET,
  STORED_EVENTS,
} from "../support/wecom.js";

const UP: HealthFields = { failures: 0, failingSince: null, downSince: null };

describe("afterFailure", () => {
  /** Failures at each time, each of a different event. */
  const fail = (times: readonly number[], from: HealthFields = UP) => times.reduce((state, at) => afterFailure(state, at, false), from);

  it("5 failures of different events spread over 30 s: down at the fifth", () => {
    const four = fail([0, 7_500, 15_000, 22_500]);
    expect(four).toEqual({ failures: 4, failingSince: 0, downSince: null });
    expect(afterFailure(four, 30_000, false)).toEqual({ failures: 5, failingSince: 0, downSince: 30_000 });
  });

  it("5 failures within less than 30 s: not down; the next one, 30 s after the first, is", () => {
    const five = fail([1_000, 2_000, 3_000, 4_000, 30_999]);
    expect(five).toEqual({ failures: 5, failingSince: 1_000, downSince: null });
    expect(afterFailure(five, 31_000, false)).toEqual({ failures: 6, failingSince: 1_000, downSince: 31_000 });
  });

  it("the same event failing again does not count, however long it goes on", () => {
    let state = fail([0, 10_000, 20_000, 30_000]);
    for (let at = 40_000; at <= 600_000; at += 10_000) state = afterFailure(state, at, true);
    expect(state).toEqual({ failures: 4, failingSince: 0, downSince: null });
    // A poison event alone: its first failure counts once.
    expect(afterFailure(afterFailure(UP, 0, false), 60_000, true)).toEqual({ failures: 1, failingSince: 0, downSince: null });
    // A different event then makes the fifth.
    expect(afterFailure(state, 610_000, false)).toEqual({ failures: 5, failingSince: 0, downSince: 610_000 });
  });

  it("a destination that is down stays as it is: its failures are not counted again", () => {
    const down = { failures: 5, failingSince: 0, downSince: 30_000 };
    expect(afterFailure(down, 90_000, false)).toEqual(down);
    // Handed a destination's whole state (as the pump does), it answers the health fields alone:
    // the pump spreads them over the failure it records, whose lastError must win.
    const state = { ...down, name: "hook", lastError: "attempt 1: webhook answered 503", lastErrorAt: 30_000, live: 3 };
    expect(afterFailure(state, 90_000, false)).toEqual(down);
  });

  it("the thresholds are the documented ones", () => {
    expect(HEALTH).toEqual({ downAfter: 5, downAfterMs: 30_000, probeMinMs: 5_000, probeMaxMs: 300_000 });
  });
});

describe("probeDelayMs", () => {
  it("5 s after going down, then 10 s, 20 s, 40 s… capped at 300 s", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20, 1_000].map(probeDelayMs)).toEqual([5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000, 300_000]);
  });
});

// ---- in workerd, against the real receiver ----

/** Retries that workerd's own alarm will not bring back during a test. */
const SLOW_RETRY = { minBackoffMs: 600_000, maxBackoffMs: 600_000 };
/** Retries due before a destination that just went down is first probed. */
const SHORT_RETRY = { minBackoffMs: 1_000, maxBackoffMs: 1_000 };

interface DestinationRow {
  failures: number;
  failing_since: number | null;
  down_since: number | null;
  last_error_at: number | null;
}

/** A push destination `hook` at the receiver's `path` (given the bucket). */
function healthApp(path: (bucket: string) => string, webhook: Record<string, unknown> = {}) {
  const { app, environment } = routedApp((bucket) => ({ hook: { webhook: { url: `${receiverUrl()}/${path(bucket)}`, secret: WEBHOOK_SECRET, ...SLOW_RETRY, ...webhook } } }), "health");
  return {
    app,
    async send(...contents: string[]) {
      for (const content of contents) {
        const response = await callWorker(await callbackRequest(app, textMessage(content, String(Math.floor(Math.random() * 1e15)))), environment);
        expect([response.status, response.headers.get("wecom-edge-routed")]).toEqual([200, "hook"]);
      }
      await settlePumps(app);
    },
  };
}

/** Writes the health count of destination `hook` and restarts the queue, so that it reads it. */
async function presetHealth(app: string, failures: number, failingSince: number): Promise<void> {
  await runInDurableObject(queueStub(app), (_, state) => {
    state.storage.sql.exec(
      "INSERT INTO destinations (name, failures, failing_since) VALUES ('hook', ?, ?) ON CONFLICT (name) DO UPDATE SET failures = excluded.failures, failing_since = excluded.failing_since",
      failures,
      failingSince,
    );
  });
  await evictDurableObject(queueStub(app));
}

function destinationRow(app: string): Promise<DestinationRow> {
  return runInDurableObject(queueStub(app), (_, state) =>
    state.storage.sql.exec("SELECT failures, failing_since, down_since, last_error_at FROM destinations WHERE name = 'hook'").one() as unknown as DestinationRow,
  );
}

/** The pump of `hook`: when it next needs the alarm, and its probe's time set to now (as if it had come). */
function pump(app: string) {
  const of = (instance: unknown) => (instance as { pushers: Map<string, { nextWake(): number | null; probeAt: number }> }).pushers.get("hook")!;
  return {
    nextWake: () => runInDurableObject(queueStub(app), (instance) => of(instance).nextWake()),
    alarm: () => runInDurableObject(queueStub(app), (_, state) => state.storage.getAlarm()),
    /** Runs the alarm as if the probe's time had come. */
    async probeNow() {
      await runInDurableObject(queueStub(app), (instance) => {
        of(instance).probeAt = 0;
      });
      await runDurableObjectAlarm(queueStub(app));
      await settlePumps(app);
    },
  };
}

async function hookStats(app: string) {
  return (await queueStub(app).stats(app)).destinations.find((d) => d.name === "hook")!;
}

const contentOf = (body: string) => (JSON.parse(body) as { event: { Content: string } }).event.Content;
async function arrivals(bucket: string): Promise<string[]> {
  return (await received(bucket)).map((r) => `${contentOf(r.body)} ${r.status}`);
}
async function attempts(app: string): Promise<string[]> {
  return (await deliveryRows(app)).map((r) => `${contentOf(r.body)} ${r.state} ${r.attempts}`);
}

describe("a destination that goes down and comes back", () => {
  beforeEach(resetOutbox);
  afterEach(() => useAlerts(undefined));

  it("down at the fifth failure over 30 s: alert, no attempts spent, probes at 5, 10, 20, 40 s, no dead letter past maxAttempts; up on a delivered probe", async () => {
    // Backoff (1 s) shorter than the first probe's wait: a probe waits for the delivery due first (see the report).
    const { app, send } = healthApp((bucket) => `toggle/${bucket}`, { maxAttempts: 2, ...SHORT_RETRY });
    useAlerts(alertsConfig(`${app}-alerts`));
    await setToggle(app, "down");
    const failingSince = Date.now() - 60_000;
    await presetHealth(app, 4, failingSince);
    expect((await hookStats(app)).health).toBe("up");

    await send("e1");
    const row = await destinationRow(app);
    expect(row).toEqual({ failures: 5, failing_since: failingSince, down_since: row.last_error_at, last_error_at: expect.any(Number) });
    const downAt = row.down_since!;
    const stats = await hookStats(app);
    expect([stats.health, stats.downSince, stats.lastError]).toEqual(["down", new Date(downAt).toISOString(), { at: new Date(downAt).toISOString(), message: "attempt 1: webhook answered 503" }]);
    // The first probe, 5 s after going down: the pump's next wake and the queue's alarm.
    expect(await pump(app).nextWake()).toBe(downAt + 5_000);
    expect(await pump(app).alarm()).toBe(downAt + 5_000);

    // Events committed while down are not pushed before the probe, and spend nothing.
    await send("e2", "e3");
    expect(await arrivals(app)).toEqual(["e1 503"]);
    expect(await attempts(app)).toEqual(["e1 queued 1", "e2 queued 0", "e3 queued 0"]);

    // Probes, the one due first each time (e1, made due first): each failed probe spends no attempt,
    // so e1 is tried 4 times with maxAttempts 2 and stays live, and the next probe waits twice as long.
    let lastErrorAt = downAt;
    for (const [i, delay] of [10_000, 20_000, 40_000].entries()) {
      await makeDue(app);
      await pump(app).probeNow();
      expect(await arrivals(app)).toEqual(["e1 503", ...Array.from({ length: i + 1 }, () => "e1 503")]);
      expect(await attempts(app)).toEqual(["e1 queued 1", "e2 queued 0", "e3 queued 0"]);
      const after = await destinationRow(app);
      expect([after.failures, after.down_since]).toEqual([5, downAt]);
      // Each failed probe is the last error, in the row and the stats.
      expect(after.last_error_at).toBeGreaterThan(lastErrorAt);
      lastErrorAt = after.last_error_at!;
      expect((await hookStats(app)).lastError).toEqual({ at: new Date(lastErrorAt).toISOString(), message: "attempt 1: webhook answered 503" });
      expect(await pump(app).nextWake()).toBe(after.last_error_at! + delay);
    }
    const probing = await hookStats(app);
    expect([probing.health, probing.downSince, probing.dead, probing.depth, probing.delivered]).toEqual(["down", new Date(downAt).toISOString(), 0, 3, 0]);
    expect(await queueStub(app).deadLetters(10)).toEqual([]);

    // Back: the next probe is delivered, the destination is up, and its backlog drains.
    await setToggle(app, "up");
    await makeDue(app);
    await pump(app).probeNow();
    const up = await hookStats(app);
    expect([up.health, up.downSince]).toEqual(["up", null]);
    const upAt = Date.parse(up.lastDeliveredAt!);
    await drain(app);
    const got = await arrivals(app);
    expect(got.slice(0, 5)).toEqual(["e1 503", "e1 503", "e1 503", "e1 503", "e1 200"]);
    expect(got.slice(5).sort()).toEqual(["e2 200", "e3 200"]);
    expect(await deliveryRows(app)).toEqual([]);
    const drained = await hookStats(app);
    expect([drained.health, drained.delivered, drained.dead, drained.depth]).toEqual(["up", 3, 0, 0]);
    expect(await destinationRow(app)).toMatchObject({ failures: 0, failing_since: null, down_since: null });

    await drainOutbox();
    const alerts = await webhookAlerts(`${app}-alerts`);
    expect(alerts.map((a) => [a.kind, a.app, a.details])).toEqual([
      ["destination_down", app, { destination: "hook", failures: 5, lastError: "attempt 1: webhook answered 503" }],
      // backlog: what it still holds once the probe is delivered (e2, e3).
    ["destination_up", app, { destination: "hook", downSeconds: Math.round((upAt - downAt) / 1000), backlog: 2 }],
    ]);
    expect(alerts[0]!.summary).toBe(`destination "hook" of app "${app}" is down: 5 consecutive deliveries failed`);
  });

  it("is probed by the queue's own alarm about 5 s after it went down, and then drains", async () => {
    const { app, send } = healthApp((bucket) => `toggle/${bucket}`, SHORT_RETRY);
    await setToggle(app, "down");
    await presetHealth(app, 4, Date.now() - 60_000);
    await send("e1", "e2");
    const { down_since: downAt } = await destinationRow(app);
    expect(downAt).not.toBeNull();
    expect(await arrivals(app)).toEqual(["e1 503"]);
    await setToggle(app, "up");
    // Nothing is pushed before the probe's time…
    await scheduler.wait(Math.max(0, downAt! + 3_000 - Date.now()));
    expect(await arrivals(app)).toEqual(["e1 503"]);
    // …and without anyone running the alarm, the probe goes about 5 s after the failure.
    const giveUpAt = Date.now() + 15_000;
    while ((await hookStats(app)).health === "down" && Date.now() < giveUpAt) await scheduler.wait(100);
    const up = await hookStats(app);
    expect(up.health).toBe("up");
    expect(Date.parse(up.lastDeliveredAt!)).toBeGreaterThanOrEqual(downAt! + 5_000);
    await drain(app);
    const got = await arrivals(app);
    expect(got.length).toBe(3);
    expect(got.filter((a) => a.endsWith(" 200")).sort()).toEqual(["e1 200", "e2 200"]);
  }, 30_000);

  it("does not count the same event failing again: a poison event alone never takes it down", async () => {
    const { app, send } = healthApp((bucket) => `poison/${bucket}`, { maxAttempts: 20 });
    await presetHealth(app, 3, Date.now() - 60_000);
    await send("POISON 1");
    expect(await destinationRow(app)).toMatchObject({ failures: 4, down_since: null });
    for (let i = 0; i < 4; i++) {
      await makeDue(app);
      await runDurableObjectAlarm(queueStub(app));
      await settlePumps(app);
    }
    expect(await arrivals(app)).toEqual(Array.from({ length: 5 }, () => "POISON 1 500"));
    expect(await attempts(app)).toEqual(["POISON 1 queued 5"]);
    expect(await destinationRow(app)).toMatchObject({ failures: 4, down_since: null });
    expect((await hookStats(app)).health).toBe("up");
    // A different event failing is the fifth.
    await send("POISON 2");
    expect(await destinationRow(app)).toMatchObject({ failures: 5, down_since: expect.any(Number) });
    expect((await hookStats(app)).health).toBe("down");
  });

  it("is not down after 5 failures within less than 30 s, and a delivered push resets the count", async () => {
    const { app, send } = healthApp((bucket) => `toggle/${bucket}`);
    await setToggle(app, "down");
    const failingSince = Date.now() - 10_000;
    await presetHealth(app, 4, failingSince);
    await send("e1");
    expect(await destinationRow(app)).toMatchObject({ failures: 5, failing_since: failingSince, down_since: null });
    expect((await hookStats(app)).health).toBe("up");
    await setToggle(app, "up");
    await makeDue(app);
    await drain(app);
    expect(await arrivals(app)).toEqual(["e1 503", "e1 200"]);
    expect(await destinationRow(app)).toMatchObject({ failures: 0, failing_since: null, down_since: null });
  });
});

describe("maxAgeHours", () => {
  beforeEach(resetOutbox);
  afterEach(() => useAlerts(undefined));

  /** Sets the received_at of the event whose message is `content`, `ageMs` ago. */
  function age(app: string, content: string, ageMs: number): Promise<void> {
    return runInDurableObject(queueStub(app), (_, state) => {
      const sql = state.storage.sql;
      const seqs = sql
        .exec<{ seq: number; body: string }>(STORED_EVENTS)
        .toArray()
        .filter((row) => contentOf(row.body) === content);
      expect(seqs.length).toBe(1);
      const at = Date.now() - ageMs;
      sql.exec("UPDATE events SET received_at = ? WHERE seq = ?", at, seqs[0]!.seq);
      // Where its one delivery carries the event, the delivery's copy is the one read.
      sql.exec("UPDATE deliveries SET received_at = ? WHERE seq = ? AND received_at IS NOT NULL", at, seqs[0]!.seq);
    });
  }

  it("a push older than maxAgeHours (default 72) becomes a dead letter when the gateway comes to it, with the exact reason; one just younger is delivered", async () => {
    const { app, send } = healthApp((bucket) => `toggle/${bucket}`);
    useAlerts(alertsConfig(`${app}-alerts`));
    await setToggle(app, "down");
    await send("old", "young");
    await drain(app);
    expect(await attempts(app)).toEqual(["old queued 1", "young queued 1"]);
    await age(app, "old", 72 * 3_600_000 + 1_000);
    await age(app, "young", 72 * 3_600_000 - 60_000);
    await setToggle(app, "up");
    await makeDue(app);
    await drain(app);
    // The old one is not pushed again: it dies with its one attempt.
    expect(await arrivals(app)).toEqual(["old 503", "young 503", "young 200"]);
    expect((await deliveryRows(app)).map((r) => [contentOf(r.body), r.state, r.attempts, r.last_error])).toEqual([
      ["old", "dead", 1, "undelivered for more than maxAgeHours (72 h)"],
    ]);
    const [dead] = await queueStub(app).deadLetters(10, "hook");
    expect([dead!.lastError, dead!.attempts]).toEqual(["undelivered for more than maxAgeHours (72 h)", 1]);
    const stats = await hookStats(app);
    expect([stats.dead, stats.delivered, stats.depth]).toEqual([1, 1, 0]);
    await drainOutbox();
    const [alert] = await webhookAlerts(`${app}-alerts`);
    expect([alert!.kind, alert!.details.lastError, alert!.hint.startsWith("They waited longer than the destination's maxAgeHours")]).toEqual([
      "dead_letter",
      "undelivered for more than maxAgeHours (72 h)",
      true,
    ]);
  });

  it("a pull destination's event older than its maxAgeHours dies on the pull that reaches it, and the pull goes on to the next", async () => {
    const { app, environment, settings } = routedApp(() => ({ bot: { maxAgeHours: 2, pull: { token: "pull-token-health-0123456789abcdef" } } }), "health-pull");
    for (const content of ["stale", "fresh"]) {
      expect((await callWorker(await callbackRequest(app, textMessage(content, String(Math.floor(Math.random() * 1e15)))), environment)).status).toBe(200);
    }
    await age(app, "stale", 2 * 3_600_000 + 1);
    const pulled = await queueStub(app).pull(app, settings, "bot", 10, 60);
    expect(pulled.events.map(contentOf)).toEqual(["fresh"]);
    expect((await deliveryRows(app)).map((r) => [contentOf(r.body), r.state, r.last_error])).toEqual([
      ["stale", "dead", "undelivered for more than maxAgeHours (2 h)"],
      ["fresh", "queued", null],
    ]);
  });
});
