/**
 * Queues beyond one Durable Object (docs/sharding.md), through the Worker:
 * placement by key, an app of 8 shards under load (spread, nothing lost or
 * doubled, per-key order), pull, long-poll, ack and the feed across shards,
 * the admin API as a whole and per shard, bots, and a change of the count.
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { forgetDrainingShards } from "../../src/queue/client.js";
import { fnv1a, queueName, shardOf, shardOfQueue, shardOfStream } from "../../src/queue/shards.js";
import { adminApi, callbackRequest, callWorker, errorOf, makeDue, newBucket, queueRows, TEST_APP, testEnv } from "../support/wecom.js";
import { FeedClient } from "../feed/support.js";

const PULL_TOKEN = "shard-pull-token-0123456789-abcdefgh";

const text = (user: string, content: string, msgId: string) =>
  `<xml><ToUserName><![CDATA[${TEST_APP.receiveId}]]></ToUserName><FromUserName><![CDATA[${user}]]></FromUserName><CreateTime>1765000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content><MsgId>${msgId}</MsgId><AgentID>1000002</AgentID></xml>`;

function shardedApp(shards: number, extra: Record<string, unknown> = {}) {
  return { ...TEST_APP, shards, destinations: { bot: { ordered: { key: "FromUserName" }, pull: { token: PULL_TOKEN } } }, ...extra };
}

function setup(shards = 8) {
  const app = newBucket("shard");
  const environment = testEnv({ apps: { [app]: shardedApp(shards) } });
  return { app, environment };
}

function call(app: string, environment: Record<string, unknown>, verb: string, body: unknown): Promise<Response> {
  return callWorker(
    new Request(`https://wecom-edge.test/queue/${app}/bot/${verb}`, { method: "POST", headers: { authorization: `Bearer ${PULL_TOKEN}` }, body: JSON.stringify(body) }),
    environment,
  );
}

async function pull(app: string, environment: Record<string, unknown>, body: unknown = { max: 100 }) {
  return (await (await call(app, environment, "pull", body)).json()) as { events: { id: string; event: { FromUserName: string; Content: string } }[]; ids: string[]; lease: string | null };
}

/** Sends `plaintexts` with `concurrency` in flight; each list in `chains` is sent in its order. */
async function sendChains(app: string, environment: Record<string, unknown>, chains: string[][], concurrency = 20): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < chains.length; i = next++) {
      for (const plaintext of chains[i]!) {
        const response = await callWorker(await callbackRequest(app, plaintext), environment);
        expect(await response.text()).toBe("success");
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

describe("placement", () => {
  it("hashes the key's text with FNV-1a; shard 0 is the app's own queue, shard i is {app}.{i}", () => {
    expect([fnv1a(""), fnv1a("a"), fnv1a("zhangsan")]).toEqual([0x811c9dc5, 0xe40c292c, fnv1a("zhangsan")]);
    expect(fnv1a("zhangsan")).not.toBe(fnv1a("lisi"));
    expect([queueName("hr", 0), queueName("hr", 7)]).toEqual(["hr", "hr.7"]);
    expect([shardOfQueue("hr"), shardOfQueue("hr.7"), shardOfQueue("hr.64"), shardOfQueue("hr.07"), shardOfQueue("HR")]).toEqual([
      { app: "hr", shard: 0 },
      { app: "hr", shard: 7 },
      null,
      null,
      null,
    ]);
    expect([shardOfStream("stream_ab.3", 8), shardOfStream("stream_ab.3", 2), shardOfStream("stream_ab", 8)]).toEqual([3, 0, 0]);
  });

  it("places by FromUserName, the corp of a suite, from.userid of a bot, or shardKey; tickets and 微信客服 in shard 0", () => {
    const base = { shards: 8, shardKey: null };
    expect(shardOf(base, { FromUserName: "zhangsan" })).toBe(fnv1a("zhangsan") % 8);
    expect(shardOf({ ...base, suite: { suiteId: "s", providerCorpId: "p", ticketToken: "t" } }, { AuthCorpId: "wpA", ToUserName: "x" })).toBe(fnv1a("wpA") % 8);
    expect(shardOf({ ...base, suite: { suiteId: "s", providerCorpId: "p", ticketToken: "t" } }, { ToUserName: "wpB" })).toBe(fnv1a("wpB") % 8);
    expect(shardOf({ ...base, bot: {} as never }, { from: { userid: "u1" } })).toBe(fnv1a("u1") % 8);
    expect(shardOf({ ...base, shardKey: "ApprovalInfo.SpNo" }, { ApprovalInfo: { SpNo: "202612060001" } })).toBe(fnv1a("202612060001") % 8);
    expect(shardOf(base, { Content: "no key" })).toBe(fnv1a("") % 8);
    expect(shardOf(base, { InfoType: "suite_ticket", FromUserName: "x" })).toBe(0);
    expect(shardOf(base, { MsgType: "event", Event: "kf_msg_or_event", FromUserName: "x" })).toBe(0);
    expect(shardOf({ shards: 1, shardKey: null }, { FromUserName: "zhangsan" })).toBe(0);
  });

  it("refuses a bad shards or shardKey by its path", () => {
    const problem = (extra: Record<string, unknown>) => parseConfig({ WECOM_APPS: JSON.stringify({ s: shardedApp(8, extra) }) }).invalidApps.get("s");
    expect(problem({})).toBeUndefined();
    expect(problem({ shards: 0 })).toBe("WECOM_APPS.s.shards must be a whole number from 1 to 64");
    expect(problem({ shards: 65 })).toBe("WECOM_APPS.s.shards must be a whole number from 1 to 64");
    expect(problem({ shards: "8" })).toBe("WECOM_APPS.s.shards must be a whole number from 1 to 64");
    expect(problem({ shardKey: "a..b" })).toBe("WECOM_APPS.s.shardKey must be a dotted path into the event (as in match) of 1 to 128 characters");
  });
});

describe("an app of 8 shards under load", () => {
  it("spreads keys within ±20 %, loses and doubles nothing, and keeps each key's order", async () => {
    const { app, environment } = setup(8);
    // 1000 users, the first 100 with 4 messages in order, the others with one: 1300 callbacks, 20 in flight.
    // The names are fixed, so the spread is the same on every run.
    const users = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
    const chains = users.map((user, u) => (u < 100 ? [1, 2, 3, 4] : [1]).map((n) => text(user, `${user}#${n}`, `73${String(u).padStart(6, "0")}${n}00000000001`)));
    const total = 1300;
    await sendChains(app, environment, chains);

    const perShard = await Promise.all(Array.from({ length: 8 }, async (_, i) => (await queueRows(queueName(app, i))).length));
    expect(perShard.reduce((a, b) => a + b, 0)).toBe(total);
    for (const n of perShard) {
      expect(n).toBeGreaterThanOrEqual((total / 8) * 0.8);
      expect(n).toBeLessThanOrEqual((total / 8) * 1.2);
    }
    // Every event of one key is in one shard.
    for (const user of users.slice(0, 10)) {
      const shard = fnv1a(user) % 8;
      const rows = await queueRows(queueName(app, shard));
      expect(rows.length).toBeGreaterThan(0);
    }

    // Drained by pull and ack: each once, in order within each key.
    const seen: string[] = [];
    const contents = new Map<string, number[]>();
    for (let round = 0; round < 300 && seen.length < total; round++) {
      const batch = await pull(app, environment);
      if (batch.ids.length === 0) continue;
      for (const event of batch.events) {
        seen.push(event.id);
        const [user, n] = event.event.Content.split("#") as [string, string];
        contents.set(user, [...(contents.get(user) ?? []), Number(n)]);
      }
      const acked = (await (await call(app, environment, "ack", { ids: batch.ids, lease: batch.lease })).json()) as { acked: number };
      expect(acked.acked).toBe(batch.ids.length);
    }
    expect(seen.length).toBe(total);
    expect(new Set(seen).size).toBe(total);
    expect(users.filter((user, u) => contents.get(user)?.join() !== (u < 100 ? "1,2,3,4" : "1"))).toEqual([]);
    expect((await pull(app, environment)).ids).toEqual([]);
  });
});

describe("reading a sharded app", () => {
  it("a lease names its shard; ack and nack reach it; an unfenced ack finds the event in any shard", async () => {
    const { app, environment } = setup(4);
    const users = ["u-a", "u-b", "u-c", "u-d", "u-e", "u-f", "u-g", "u-h"];
    await sendChains(app, environment, users.map((user, i) => [text(user, `${user}#1`, `7400000000000000${i}01`)]), 4);
    const first = await pull(app, environment, { max: 100, leaseSeconds: 60 });
    const shard = fnv1a(first.events[0]!.event.FromUserName) % 4;
    expect(first.lease).toMatch(shard === 0 ? /^[0-9a-z]+\.[0-9a-f]{24}$/ : new RegExp(`^[0-9a-z]+\\.[0-9a-f]{24}@${shard}$`));
    expect(first.events.every((e) => fnv1a(e.event.FromUserName) % 4 === shard)).toBe(true);
    const [one, ...rest] = first.ids;
    expect(await (await call(app, environment, "nack", { ids: [one], lease: first.lease, delaySeconds: 0 })).json()).toEqual({ released: 1, notReleased: [] });
    if (rest.length > 0) expect(await (await call(app, environment, "ack", { ids: rest, lease: first.lease })).json()).toEqual({ acked: rest.length, notAcked: [] });
    // Every other event, then the released one, by the unfenced ack.
    const all: string[] = [];
    for (let i = 0; i < 10; i++) {
      const batch = await pull(app, environment);
      all.push(...batch.ids);
    }
    expect(all).toContain(one);
    const answer = (await (await call(app, environment, "ack", { ids: [...all, "evt_0123456789abcdef0123456789abcdef"] })).json()) as { acked: number; notAcked: { id: string }[] };
    expect(answer.acked).toBe(all.length);
    expect(answer.notAcked.map((n) => n.id)).toEqual(["evt_0123456789abcdef0123456789abcdef"]);
    // The other shards' events, and the one released.
    expect(all.length).toBe(8 - first.ids.length + 1);
    // A lease naming a shard the app has not holds nothing, and no queue is made for it.
    const forged = first.lease!.replace(/(@\d+)?$/, "@63");
    expect(await (await call(app, environment, "ack", { ids: ["evt_0123456789abcdef0123456789abcdef"], lease: forged })).json()).toEqual({
      acked: 0,
      notAcked: [{ id: "evt_0123456789abcdef0123456789abcdef", reason: "unknown" }],
    });
    expect(await (await call(app, environment, "nack", { ids: ["evt_0123456789abcdef0123456789abcdef"], lease: forged })).json()).toEqual({
      released: 0,
      notReleased: [{ id: "evt_0123456789abcdef0123456789abcdef", reason: "unknown" }],
    });
  });

  it("a long-poll answers with an event committed to any shard while it waits", async () => {
    const { app, environment } = setup(8);
    const waiting = pull(app, environment, { max: 10, waitSeconds: 10 });
    // Let the pull find every shard empty and start waiting.
    await scheduler.wait(200);
    const user = "late-user";
    const response = await callWorker(await callbackRequest(app, text(user, "late#1", "7500000000000000001")), environment);
    expect(await response.text()).toBe("success");
    const got = await waiting;
    expect(got.events.map((e) => e.event.Content)).toEqual(["late#1"]);
    const shard = fnv1a(user) % 8;
    expect(got.lease).toMatch(shard === 0 ? /^[^@]+$/ : new RegExp(`@${shard}$`));
  });

  it("GET …/shards lists them; a socket per shard with ?shard=; without it, shard 0 says which there are", async () => {
    const { app, environment } = setup(4);
    const shards = await callWorker(new Request(`https://wecom-edge.test/queue/${app}/bot/shards`, { headers: { authorization: `Bearer ${PULL_TOKEN}` } }), environment);
    expect(await shards.json()).toEqual({ shards: [0, 1, 2, 3] });
    const open = (query: string) =>
      callWorker(new Request(`https://wecom-edge.test/queue/${app}/bot/ws${query}`, { headers: { authorization: `Bearer ${PULL_TOKEN}`, upgrade: "websocket" } }), environment);
    const plain = new FeedClient((await open("")).webSocket!);
    expect(await plain.nth("shards")).toEqual({ type: "shards", shards: [0, 1, 2, 3] });
    // An event of a user placed in shard 2, on shard 2's socket.
    const user = Array.from({ length: 100 }, (_, i) => `sock-${i}`).find((u) => fnv1a(u) % 4 === 2)!;
    const two = new FeedClient((await open("?shard=2")).webSocket!);
    two.credit(5);
    await callWorker(await callbackRequest(app, text(user, "two#1", "7600000000000000001")), environment);
    expect((await two.nth("event")).event.event.Content).toBe("two#1");
    expect(two.frames.some((f) => f.type === "shards")).toBe(false);
    expect(await errorOf(await open("?shard=4"))).toEqual({ status: 400, code: "invalid_parameter", message: "shard must be one of the app's shards: 0, 1, 2, 3" });
    plain.ws.close(1000, "done");
    two.ws.close(1000, "done");
  });
});

describe("the admin API", () => {
  it("shows the app as a whole, each shard's queue on its own, and acts on every shard", async () => {
    const { app, environment } = setup(4);
    const users = Array.from({ length: 40 }, (_, i) => `adm-${i}`);
    await sendChains(app, environment, users.map((user, i) => [text(user, `${user}#1`, `7700000000000${String(i).padStart(4, "0")}01`)]), 10);
    const admin = adminApi(environment);
    const whole = await admin("GET", `/${app}`);
    expect(whole.status).toBe(200);
    expect(whole.body).toMatchObject({ app, depth: 40, events: 40, shards: [app, `${app}.1`, `${app}.2`, `${app}.3`] });
    // Shard 0 alone is {app}.0: {app} is the whole.
    const per = await Promise.all([0, 1, 2, 3].map(async (i) => (await admin("GET", `/${app}.${i}`)).body.depth as number));
    expect(per.reduce((a, b) => a + b, 0)).toBe(40);
    expect(per).toEqual([0, 1, 2, 3].map((i) => users.filter((u) => fnv1a(u) % 4 === i).length));
    expect((await admin("GET", `/${app}/destinations/bot`)).body).toMatchObject({ app, name: "bot", depth: 40 });
    expect((await admin("POST", `/${app}/pause`)).body).toEqual({ paused: true });
    expect((await admin("GET", `/${app}.2`)).body.paused).toBe(true);
    expect((await admin("POST", `/${app}/resume`)).body).toEqual({ paused: false });
    const listed = (await admin("GET", "")).body.apps as { app: string }[];
    expect(listed.filter((a) => a.app.startsWith(app)).map((a) => a.app)).toEqual([app]);
  });
});

describe("dead letters across shards", () => {
  it("are listed, replayed and purged for the app as a whole", async () => {
    const app = newBucket("sharddead");
    const environment = testEnv({ apps: { [app]: { ...TEST_APP, shards: 4, destinations: { bot: { pull: { token: PULL_TOKEN, maxAttempts: 1 } } } } } });
    const users = Array.from({ length: 12 }, (_, i) => `dead-${i}`);
    await sendChains(app, environment, users.map((user, i) => [text(user, `${user}#1`, `7900000000000${String(i).padStart(4, "0")}01`)]), 4);
    // Leased once each and never acked: made due again, the next pull makes them dead letters (maxAttempts 1).
    for (let i = 0; i < 8; i++) await pull(app, environment);
    for (let shard = 0; shard < 4; shard++) await makeDue(queueName(app, shard));
    for (let i = 0; i < 8; i++) await pull(app, environment);
    const admin = adminApi(environment);
    expect((await admin("GET", `/${app}`)).body).toMatchObject({ dead: 12, depth: 0 });
    const listed = (await admin("GET", `/${app}/dead?limit=100`)).body.events as { id: string }[];
    expect(listed.length).toBe(12);
    expect((await admin("POST", `/${app}/replay`, { all: true })).body).toEqual({ replayed: 12 });
    expect((await admin("GET", `/${app}`)).body).toMatchObject({ dead: 0, depth: 12 });
    for (let shard = 0; shard < 4; shard++) await makeDue(queueName(app, shard));
    for (let i = 0; i < 8; i++) await pull(app, environment);
    for (let shard = 0; shard < 4; shard++) await makeDue(queueName(app, shard));
    for (let i = 0; i < 8; i++) await pull(app, environment);
    expect((await admin("GET", `/${app}`)).body).toMatchObject({ dead: 12 });
    expect((await admin("POST", `/${app}/purge`, { all: true })).body).toEqual({ purged: 12 });
    expect((await admin("GET", `/${app}`)).body).toMatchObject({ dead: 0, depth: 0, events: 0 });
  });
});

describe("AI bots", () => {
  it("a stream lives in its message's shard, and its id says which", async () => {
    const app = newBucket("shardbot");
    const environment = testEnv({ apps: { [app]: { ...TEST_APP, receiveId: "", shards: 4, bot: { token: "bot-token-for-the-tests-0123456789" }, pull: { token: PULL_TOKEN } } } });
    const user = Array.from({ length: 100 }, (_, i) => `bot-${i}`).find((u) => fnv1a(u) % 4 === 3)!;
    const message = JSON.stringify({ msgid: "m1", aibotid: "aib1", chattype: "single", from: { userid: user }, msgtype: "text", text: { content: "hi" } });
    const response = await callWorker(await callbackRequest(app, message, { receiveId: "", format: "json" }), environment);
    expect(response.status).toBe(200);
    const id = response.headers.get("wecom-edge-event-id")!;
    const streamId = `stream_${id.slice(4)}.3`;
    expect((await queueRows(queueName(app, 3))).map((r) => r.id)).toEqual([id]);
    const update = await callWorker(
      new Request(`https://wecom-edge.test/bots/${app}/streams/${streamId}`, { method: "POST", headers: { authorization: "Bearer bot-token-for-the-tests-0123456789" }, body: JSON.stringify({ content: "done", finish: true }) }),
      environment,
    );
    expect(await update.json()).toEqual({ id: streamId, finish: true, bytes: 4 });
  });
});

describe("changing the count", () => {
  it("a shard past the new count keeps its events, drains through the pull API, and may be dropped once empty", async () => {
    const app = newBucket("reshard");
    const before = testEnv({ apps: { [app]: shardedApp(4) } });
    const user = Array.from({ length: 100 }, (_, i) => `re-${i}`).find((u) => fnv1a(u) % 4 === 3 && fnv1a(u) % 2 === 1)!;
    await sendChains(app, before, [[text(user, "old#1", "7800000000000000001")]], 1);
    forgetDrainingShards();
    const after = testEnv({ apps: { [app]: shardedApp(2) } });
    await sendChains(app, after, [[text(user, "new#1", "7800000000000000002")]], 1);
    // The new one went to shard 1 of 2; the old one waits in shard 3.
    expect((await queueRows(queueName(app, 1))).length).toBe(1);
    expect((await queueRows(queueName(app, 3))).length).toBe(1);
    const admin = adminApi(after);
    expect((await admin("GET", `/${app}`)).body).toMatchObject({ depth: 2, shards: [app, `${app}.1`, `${app}.3`] });
    const got: string[] = [];
    for (let i = 0; i < 6 && got.length < 2; i++) {
      const batch = await pull(app, after);
      got.push(...batch.events.map((e) => e.event.Content));
      if (batch.ids.length > 0) await call(app, after, "ack", { ids: batch.ids, lease: batch.lease });
    }
    expect(got.sort()).toEqual(["new#1", "old#1"]);
    expect((await admin("POST", `/${app}.3/drop`)).body).toEqual({ dropped: 0 });
    expect((await admin("POST", `/${app}.1/drop`)).status).toBe(409);
  });
});
