/**
 * Ordered destinations (docs/routing.md, "Ordered destinations"): per order
 * key one delivery is queued (the head), the later ones of that key are held
 * and released one by one, in commit order, when the head is delivered or
 * becomes a dead letter. Pushes go to the real receiver; pulls use the
 * queue's own API.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
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
  TEST_APP,
  WEBHOOK_SECRET,
} from "../support/wecom.js";

/** Retries that workerd's own alarm will not bring back during a test. */
const SLOW_RETRY = { minBackoffMs: 600_000, maxBackoffMs: 600_000 };
const PULL_TOKEN = "pull-token-ordered-0123456789abcdef";

const hook = (path: string, webhook: Record<string, unknown> = {}) => ({ url: `${receiverUrl()}/${path}`, secret: WEBHOOK_SECRET, ...SLOW_RETRY, ...webhook });

afterEach(() => useAlerts(undefined));

/** A contact change (通讯录回调 update_user) named `name`, of user `userId` (undefined: the event has no UserID). */
function contactChange(name: string, userId?: string): string {
  return (
    `<xml><ToUserName><![CDATA[${TEST_APP.receiveId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>` +
    `<CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_contact]]></Event>` +
    `<ChangeType><![CDATA[update_user]]></ChangeType>${userId === undefined ? "" : `<UserID><![CDATA[${userId}]]></UserID>`}` +
    `<Name><![CDATA[${name}]]></Name></xml>`
  );
}

const nameOf = (body: string): string => (JSON.parse(body) as { event: { Name: string } }).event.Name;

/** Sends each callback through the Worker, in order; each is committed before the next is sent. */
async function send(app: string, environment: Record<string, unknown>, events: readonly (readonly [name: string, userId?: string])[], routed: string): Promise<void> {
  for (const [name, userId] of events) {
    const response = await callWorker(await callbackRequest(app, contactChange(name, userId)), environment);
    expect([response.status, await response.text(), response.headers.get("wecom-edge-routed")]).toEqual([200, "success", routed]);
  }
}

/** What the receiver's bucket got, in arrival order: [event name, status]. */
async function arrivals(bucket: string): Promise<[string, number][]> {
  return (await received(bucket)).map((r) => [nameOf(r.body), r.status]);
}

/** Each delivery, in commit order, as [name, state, attempts] (with `keys`, its order key too). */
async function rows(app: string, keys = false): Promise<unknown[][]> {
  return (await deliveryRows(app)).map((r) => (keys ? [nameOf(r.body), r.state, r.attempts, r.key] : [nameOf(r.body), r.state, r.attempts]));
}

/** Ids of the events, by name. */
async function idsByName(app: string): Promise<Map<string, string>> {
  return new Map((await deliveryRows(app)).map((r) => [nameOf(r.body), r.id]));
}

const pause = (app: string, settings: string, name: string) => queueStub(app).setPaused(true, name, app, settings);
const resume = (app: string, name: string) => queueStub(app).setPaused(false, name);

describe("ordered: true, pushed", () => {
  it("delivers one at a time in commit order: while the head fails the rest are held, and none goes ahead of it", async () => {
    const { app, environment } = routedApp((bucket) => ({ directory: { ordered: true, webhook: hook(`toggle/${bucket}`) } }), "ord-true");
    await setToggle(app, "down");
    await send(app, environment, [["n1"], ["n2"], ["n3"], ["n4"]], "directory");
    await settlePumps(app);
    // Only the head was tried; the others were held from their commit, and spent nothing.
    expect(await rows(app, true)).toEqual([
      ["n1", "queued", 1, ""],
      ["n2", "held", 0, ""],
      ["n3", "held", 0, ""],
      ["n4", "held", 0, ""],
    ]);
    expect(await arrivals(app)).toEqual([["n1", 503]]);
    expect((await deliveryRows(app))[0]!.last_error).toBe("attempt 1: webhook answered 503");

    await setToggle(app, "up");
    await makeDue(app);
    // Step by step: at every point the one live delivery that is queued is the oldest; every later one is held.
    for (let step = 0; step < 100; step++) {
      const live = await rows(app);
      expect(live.map(([, state]) => state)).toEqual(live.map((_, i) => (i === 0 ? "queued" : "held")));
      if (live.length === 0) break;
      if (!(await runDurableObjectAlarm(queueStub(app)))) await scheduler.wait(10);
      await settlePumps(app);
    }
    expect(await rows(app)).toEqual([]);
    // Each head went alone, in commit order, once it was the head.
    expect(await arrivals(app)).toEqual([
      ["n1", 503],
      ["n1", 200],
      ["n2", 200],
      ["n3", 200],
      ["n4", 200],
    ]);
    const stats = (await queueStub(app).stats(app)).destinations[0]!;
    expect([stats.name, stats.ordered, stats.delivered, stats.dead, stats.depth]).toEqual(["directory", true, 4, 0, 0]);
  });

  it("goes on past a head that became a dead letter (maxAttempts 1): order continues, and dead_letter is raised", async () => {
    await resetOutbox();
    const { app, environment, settings } = routedApp((bucket) => ({ directory: { ordered: true, webhook: hook(`poison/${bucket}`, { maxAttempts: 1 }) } }), "ord-dead");
    useAlerts(alertsConfig(`${app}-alerts`));
    // Paused while the three are committed: the line is built before anything is pushed.
    await pause(app, settings, "directory");
    await send(app, environment, [["POISON-1"], ["n2"], ["n3"]], "directory");
    expect(await rows(app)).toEqual([
      ["POISON-1", "queued", 0],
      ["n2", "held", 0],
      ["n3", "held", 0],
    ]);
    const ids = await idsByName(app);
    await resume(app, "directory");
    await drain(app);
    expect(await arrivals(app)).toEqual([
      ["POISON-1", 500],
      ["n2", 200],
      ["n3", 200],
    ]);
    expect((await deliveryRows(app)).map((r) => [nameOf(r.body), r.state, r.attempts, r.last_error])).toEqual([["POISON-1", "dead", 1, "attempt 1: webhook answered 500"]]);
    const stats = (await queueStub(app).stats(app)).destinations[0]!;
    expect([stats.delivered, stats.dead, stats.depth]).toEqual([2, 1, 0]);
    expect((await queueStub(app).deadLetters(10, "directory")).map((d) => [d.id, d.destination, d.lastError])).toEqual([
      [ids.get("POISON-1"), "directory", "attempt 1: webhook answered 500"],
    ]);
    await drainOutbox();
    expect((await webhookAlerts(`${app}-alerts`)).map((a) => [a.kind, a.app, a.details])).toEqual([
      ["dead_letter", app, { destination: "directory", mode: "push", count: 1, ids: [ids.get("POISON-1")], lastError: "attempt 1: webhook answered 500" }],
    ]);
  });

  it("replays a dead letter behind the live head of its key (so out of order), and at once when its key has none", async () => {
    const { app, environment, settings } = routedApp((bucket) => ({ directory: { ordered: true, webhook: hook(`toggle/${bucket}`, { maxAttempts: 1 }) } }), "ord-replay");
    await setToggle(app, "down");
    await send(app, environment, [["n1"]], "directory");
    await settlePumps(app);
    expect(await rows(app)).toEqual([["n1", "dead", 1]]);
    const n1 = (await idsByName(app)).get("n1")!;

    await setToggle(app, "up");
    await pause(app, settings, "directory");
    await send(app, environment, [["n2"], ["n3"]], "directory");
    // n1 is dead: n2 is the head of the line, n3 behind it.
    expect(await rows(app)).toEqual([
      ["n1", "dead", 1],
      ["n2", "queued", 0],
      ["n3", "held", 0],
    ]);
    expect(await queueStub(app).replay([n1], "directory")).toBe(1);
    // Behind the live head n2, with a fresh attempt count.
    expect(await rows(app)).toEqual([
      ["n1", "held", 0],
      ["n2", "queued", 0],
      ["n3", "held", 0],
    ]);
    await resume(app, "directory");
    await drain(app);
    expect(await arrivals(app)).toEqual([
      ["n1", 503],
      ["n2", 200],
      ["n1", 200],
      ["n3", 200],
    ]);
    expect(await rows(app)).toEqual([]);

    // Its key with nothing live: a replayed dead letter is queued at once.
    await setToggle(app, "down");
    await send(app, environment, [["n4"]], "directory");
    await settlePumps(app);
    expect(await rows(app)).toEqual([["n4", "dead", 1]]);
    await setToggle(app, "up");
    await pause(app, settings, "directory");
    expect(await queueStub(app).replay(null, "directory")).toBe(1);
    expect(await rows(app)).toEqual([["n4", "queued", 0]]);
    await resume(app, "directory");
    await drain(app);
    expect((await arrivals(app)).slice(4)).toEqual([
      ["n4", 503],
      ["n4", 200],
    ]);
  });
});

describe('ordered: {"key": "UserID"}, pushed', () => {
  it("a failing head holds only its own key; other keys flow; events without the key share the key \"\"", async () => {
    const { app, environment, settings } = routedApp((bucket) => ({ crm: { ordered: { key: "UserID" }, webhook: hook(`poison/${bucket}`, { maxAttempts: 5 }) } }), "ord-key");
    await pause(app, settings, "crm");
    await send(
      app,
      environment,
      [["POISON-a1", "A"], ["b1", "B"], ["a2", "A"], ["b2", "B"], ["POISON-none1"], ["none2"], ["a3", "A"], ["b3", "B"]],
      "crm",
    );
    expect(await rows(app, true)).toEqual([
      ["POISON-a1", "queued", 0, "A"],
      ["b1", "queued", 0, "B"],
      ["a2", "held", 0, "A"],
      ["b2", "held", 0, "B"],
      ["POISON-none1", "queued", 0, ""],
      ["none2", "held", 0, ""],
      ["a3", "held", 0, "A"],
      ["b3", "held", 0, "B"],
    ]);
    await resume(app, "crm");
    await drain(app);
    // Key B went through in its order; A and "" each wait behind their failing head.
    const got = await arrivals(app);
    expect(got.filter(([name]) => name.startsWith("b"))).toEqual([
      ["b1", 200],
      ["b2", 200],
      ["b3", 200],
    ]);
    expect(got.filter(([name]) => !name.startsWith("b")).sort()).toEqual([
      ["POISON-a1", 500],
      ["POISON-none1", 500],
    ]);
    expect(await rows(app, true)).toEqual([
      ["POISON-a1", "queued", 1, "A"],
      ["a2", "held", 0, "A"],
      ["POISON-none1", "queued", 1, ""],
      ["none2", "held", 0, ""],
      ["a3", "held", 0, "A"],
    ]);
    // Another try of the heads: still nothing behind them moves.
    await makeDue(app);
    await drain(app);
    expect((await received(app)).length).toBe(7);
    expect((await rows(app)).map(([name, state, attempts]) => `${name} ${state} ${attempts}`)).toEqual([
      "POISON-a1 queued 2",
      "a2 held 0",
      "POISON-none1 queued 2",
      "none2 held 0",
      "a3 held 0",
    ]);
  });
});

describe("ordered pull destinations", () => {
  function pullApp(extra: Record<string, unknown> = {}) {
    return routedApp(() => ({ bot: { ordered: { key: "UserID" }, pull: { token: PULL_TOKEN, ...extra } } }), "ord-pull");
  }

  async function pull(app: string, settings: string) {
    const pulled = await queueStub(app).pull(app, settings, "bot", 10, 60);
    return { names: pulled.events.map(nameOf), attempts: pulled.attempts, ids: pulled.ids, lease: pulled.lease };
  }

  it("never leases an event whose key has an earlier one leased or waiting; an ack makes the next pullable; a nacked head stays the head", async () => {
    const { app, environment, settings } = pullApp();
    await send(app, environment, [["a1", "A"], ["a2", "A"], ["b1", "B"], ["a3", "A"], ["none1"], ["none2"]], "bot");
    const first = await pull(app, settings);
    expect([first.names, first.attempts]).toEqual([
      ["a1", "b1", "none1"],
      [1, 1, 1],
    ]);
    // The heads are leased: nothing behind them comes out.
    expect(await pull(app, settings)).toEqual({ names: [], attempts: [], ids: [], lease: null });

    // Ack of a1: a2 is the next of A.
    expect(await queueStub(app).ack("bot", [first.ids[0]!], first.lease)).toEqual({ acked: 1, notAcked: [] });
    const second = await pull(app, settings);
    expect([second.names, second.attempts]).toEqual([["a2"], [1]]);

    // A nacked head stays the head: a2 again, never a3.
    expect(await queueStub(app).nack("bot", second.ids, second.lease!, 0)).toEqual({ released: 1, notReleased: [] });
    const third = await pull(app, settings);
    expect([third.names, third.attempts]).toEqual([["a2"], [2]]);

    // Leases that run out: the same heads again, nothing behind them.
    await makeDue(app);
    const fourth = await pull(app, settings);
    expect([fourth.names, fourth.attempts]).toEqual([
      ["a2", "b1", "none1"],
      [3, 2, 2],
    ]);
    expect(await queueStub(app).ack("bot", fourth.ids, fourth.lease)).toEqual({ acked: 3, notAcked: [] });
    const fifth = await pull(app, settings);
    expect([fifth.names, fifth.attempts]).toEqual([
      ["a3", "none2"],
      [1, 1],
    ]);
    expect(await queueStub(app).ack("bot", fifth.ids, fifth.lease)).toEqual({ acked: 2, notAcked: [] });
    expect(await rows(app)).toEqual([]);
    expect((await queueStub(app).stats(app)).destinations.map((d) => [d.name, d.delivered, d.dead, d.depth])).toEqual([["bot", 6, 0, 0]]);
  });

  it("goes on past a dead head, and a replayed dead letter waits behind the live head of its key", async () => {
    const { app, environment, settings } = pullApp({ maxAttempts: 1 });
    await send(app, environment, [["a1", "A"], ["a2", "A"]], "bot");
    const first = await pull(app, settings);
    expect(first.names).toEqual(["a1"]);
    // a1's lease runs out: leased maxAttempts times, it dies, and the same pull goes on to a2.
    await makeDue(app);
    const second = await pull(app, settings);
    expect([second.names, second.attempts]).toEqual([["a2"], [1]]);
    expect(await rows(app)).toEqual([
      ["a1", "dead", 1],
      ["a2", "queued", 1],
    ]);

    // Replayed while a2 is leased: behind it.
    expect(await queueStub(app).replay([first.ids[0]!], "bot")).toBe(1);
    expect(await rows(app)).toEqual([
      ["a1", "held", 0],
      ["a2", "queued", 1],
    ]);
    expect((await pull(app, settings)).names).toEqual([]);
    expect(await queueStub(app).ack("bot", second.ids, second.lease)).toEqual({ acked: 1, notAcked: [] });
    const third = await pull(app, settings);
    expect([third.names, third.attempts]).toEqual([["a1"], [1]]);
  });
});
