/**
 * The WebSocket feed (docs/feed.md) with real sockets in workerd: through
 * the Worker's fetch, into the app's queue, and back as frames.
 */
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { callWorker, errorOf, queueStub, xmlCallback } from "../support/wecom.js";
import { FEED_TOKEN, FeedClient, feedSetup, OTHER_TOKEN } from "./support.js";

const UNAUTHORIZED = { status: 401, code: "unauthorized", message: "a valid bearer token is required" };
const text = (i: number, from = "zhangsan") =>
  xmlCallback(
    `<FromUserName><![CDATA[${from}]]></FromUserName><CreateTime>1732788240</CreateTime><MsgType><![CDATA[text]]></MsgType>` +
      `<Content><![CDATA[message ${i}]]></Content><MsgId>${9_100_000_000_000_000_000 + i}</MsgId><AgentID>1000002</AgentID>`,
  );
const texts = (from: number, to: number, user?: string) => Array.from({ length: to - from }, (_, i) => text(from + i, user));

describe("opening a feed", () => {
  it("refuses a wrong token, an unknown app or destination and a push destination with the same 401, and a plain GET with 426", async () => {
    const setup = feedSetup({}, { hook: { webhook: { url: "https://intranet.example/hook", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } }, other: { pull: { token: OTHER_TOKEN } } });
    expect(await errorOf(await setup.open({ token: "wrong-token" }))).toEqual(UNAUTHORIZED);
    expect(await errorOf(await setup.open({ token: OTHER_TOKEN }))).toEqual(UNAUTHORIZED);
    expect(await errorOf(await setup.open({ path: "no-such-app/feed" }))).toEqual(UNAUTHORIZED);
    expect(await errorOf(await setup.open({ path: `${setup.app}/nowhere` }))).toEqual(UNAUTHORIZED);
    expect(await errorOf(await setup.open({ path: `${setup.app}/hook` }))).toEqual(UNAUTHORIZED);
    expect(await errorOf(await setup.open({ upgrade: false }))).toEqual({
      status: 426,
      code: "upgrade_required",
      message: "the feed is a WebSocket: send Upgrade: websocket",
    });
    for (const query of ["?leaseSeconds=0", "?leaseSeconds=43201", "?leaseSeconds=1.5", "?leaseSeconds=abc"]) {
      expect(await errorOf(await setup.open({ query }))).toEqual({ status: 400, code: "invalid_parameter", message: "leaseSeconds must be a whole number from 1 to 43200" });
    }
    expect((await setup.open({ query: "?leaseSeconds=43200" })).status).toBe(101);
  });

  it("opens at most 32 sockets on one destination: the 33rd gets 429, and one closing makes room", async () => {
    const setup = feedSetup();
    const sockets: FeedClient[] = [];
    for (let i = 0; i < 32; i++) sockets.push(await setup.connect());
    const refused = await setup.open();
    expect(await errorOf(refused)).toEqual({ status: 429, code: "too_many_requests", message: "at most 32 sockets may be open on one destination" });
    expect(refused.headers.get("retry-after")).toBe("60");
    sockets[0]!.ws.close(1000, "bye");
    await sockets[0]!.close();
    await sockets[1]!.settle(50);
    expect((await setup.open()).status).toBe(101);
  });
});

describe("delivery over the socket", () => {
  it("sends nothing before credit, what waited as soon as credit comes, and a new event the moment it is committed", async () => {
    const setup = feedSetup();
    const [waiting] = await setup.send(text(1));
    const client = await setup.connect();
    await client.settle();
    expect(client.frames).toEqual([]);
    client.credit(5);
    const first = await client.nth("event");
    expect([first.id, first.attempts, first.event.id, first.event.event.Content]).toEqual([waiting, 1, waiting, "message 1"]);
    const [fresh] = await setup.send(text(2));
    // No alarm and no poll: the commit itself sends it; the socket had credit left.
    const second = await client.nth("event", 2);
    expect([second.id, second.attempts, second.event.event.Content]).toEqual([fresh, 1, "message 2"]);
  });

  it("sends no more events than the credit given, then more as credit comes", async () => {
    const setup = feedSetup();
    const ids = await setup.send(...texts(0, 5));
    const client = await setup.connect();
    client.credit(2);
    await client.nth("event", 2);
    await client.settle();
    expect(client.events().map((f) => f.id)).toEqual(ids.slice(0, 2));
    client.credit(1);
    await client.nth("event", 3);
    await client.settle();
    expect(client.events().map((f) => f.id)).toEqual(ids.slice(0, 3));
    client.credit(10);
    await client.nth("event", 5);
    expect(client.events().map((f) => f.id)).toEqual(ids);
  });

  it("answers ack and nack frames in order, under the socket's lease, as the pull API does", async () => {
    const setup = feedSetup();
    const [a, b] = await setup.send(text(1), text(2));
    const client = await setup.connect();
    client.credit(2);
    await client.nth("event", 2);
    client.send({ type: "ack", ids: [a, "nope"] });
    client.send({ type: "nack", ids: [b], delaySeconds: 0 });
    expect(await client.nth("acked")).toEqual({ type: "acked", acked: 1, notAcked: [{ id: "nope", reason: "unknown" }] });
    expect(await client.nth("released")).toEqual({ type: "released", released: 1, notReleased: [] });
    // Released, b is due again, but the two credits given went to the two sent.
    await client.settle();
    expect(client.events().length).toBe(2);
    client.credit(1);
    const again = await client.nth("event", 3);
    expect([again.id, again.attempts]).toEqual([b, 2]);
    client.send({ type: "ack", ids: [b] });
    expect(await client.nth("acked", 2)).toEqual({ type: "acked", acked: 1, notAcked: [] });
    // Acked is gone: the pull API has nothing.
    expect(await (await setup.api("pull", {})).json()).toEqual({ events: [], ids: [], lease: null, attempts: {} });
  });

  it("takes the credit an ack or nack frame carries as a credit frame after it, and feeds the socket after the answer", async () => {
    const setup = feedSetup();
    const [a, b, c, d] = await setup.send(...texts(0, 4));
    const client = await setup.connect();
    client.credit(2);
    await client.nth("event", 2);
    client.send({ type: "ack", ids: [a], credit: 1 });
    expect((await client.nth("event", 3)).id).toBe(c);
    client.send({ type: "nack", ids: [b], delaySeconds: 3600, credit: 1 });
    expect((await client.nth("event", 4)).id).toBe(d);
    await client.settle();
    expect(client.frames.map((f) => `${f.type} ${f.id ?? f.acked ?? f.released}`)).toEqual([`event ${a}`, `event ${b}`, "acked 1", `event ${c}`, "released 1", `event ${d}`]);
    // No credit left: nothing more is sent until some comes, with the ack of the last two.
    const [e] = await setup.send(text(5));
    await client.settle();
    expect(client.events().length).toBe(4);
    client.send({ type: "ack", ids: [c, d], credit: 1 });
    expect((await client.nth("event", 5)).id).toBe(e);
    expect(await client.nth("acked", 2)).toEqual({ type: "acked", acked: 2, notAcked: [] });
    // Credit 0 is an ack alone.
    client.send({ type: "ack", ids: [e], credit: 0 });
    expect(await client.nth("acked", 3)).toEqual({ type: "acked", acked: 1, notAcked: [] });
    const [f] = await setup.send(text(6));
    await client.settle();
    expect(client.events().length).toBe(5);
    client.credit(1);
    expect((await client.nth("event", 6)).id).toBe(f);
  });

  it("counts an ack's credit after its ids: at a full window of 1000, an ack of one id may give back one", async () => {
    const setup = feedSetup();
    const [a] = await setup.send(text(1));
    const client = await setup.connect();
    client.credit(1);
    await client.nth("event");
    // One outstanding and 999 credit: the window is full.
    client.credit(999);
    client.send({ type: "ack", ids: [a], credit: 1 });
    expect(await client.nth("acked")).toEqual({ type: "acked", acked: 1, notAcked: [] });
    const [b] = await setup.send(text(2));
    expect((await client.nth("event", 2)).id).toBe(b);
    expect(client.closed).toBeNull();
  });

  it("makes a closed socket's unacked events due at once, for another socket", async () => {
    const setup = feedSetup();
    const ids = await setup.send(...texts(0, 3));
    const first = await setup.connect("?leaseSeconds=3600");
    first.credit(3);
    await first.nth("event", 3);
    first.send({ type: "ack", ids: [ids[0]] });
    await first.nth("acked");
    const second = await setup.connect();
    second.credit(10);
    await second.settle();
    expect(second.events()).toEqual([]);
    first.ws.close(1000, "done");
    await second.nth("event", 2);
    expect(second.events().map((f) => [f.id, f.attempts])).toEqual([
      [ids[1], 2],
      [ids[2], 2],
    ]);
  });

  it("takes back an event whose lease ran out on an open socket, and sends it again without any other traffic", async () => {
    const setup = feedSetup();
    const [id] = await setup.send(text(1));
    const slow = await setup.connect("?leaseSeconds=1");
    slow.credit(1);
    await slow.nth("event");
    const other = await setup.connect();
    other.credit(1);
    // The queue's alarm, set for the lease's end, sends it on.
    const again = await other.nth("event");
    expect([again.id, again.attempts]).toEqual([id, 2]);
    // The slow consumer's late ack is refused: the event is the other's now.
    slow.send({ type: "ack", ids: [id] });
    expect(await slow.nth("acked")).toEqual({ type: "acked", acked: 0, notAcked: [{ id, reason: "unknown" }] });
    other.send({ type: "ack", ids: [id] });
    expect(await other.nth("acked")).toEqual({ type: "acked", acked: 1, notAcked: [] });
  });

  it("gives each event to one socket of several competing ones", async () => {
    const setup = feedSetup();
    const clients = [await setup.connect(), await setup.connect(), await setup.connect()];
    for (const client of clients) client.credit(10);
    const ids = await setup.send(...texts(0, 24));
    await clients[0]!.until(() => clients.reduce((n, c) => n + c.events().length, 0) >= 24, "24 events over three sockets");
    await clients[0]!.settle();
    const got = clients.flatMap((c) => c.events().map((f) => f.id as string));
    expect(got.length).toBe(24);
    expect(new Set(got)).toEqual(new Set(ids));
    // No socket got more than its credit.
    for (const client of clients) expect(client.events().length).toBeLessThanOrEqual(10);
  });

  it("keeps an ordered destination's key order across sockets: the next event of a key goes out once the one before is acked", async () => {
    const setup = feedSetup({ ordered: { key: "FromUserName" } });
    const [a1, a2, a3] = await setup.send(...texts(0, 3, "alice"));
    const [b1] = await setup.send(text(10, "bob"));
    const sockets = [await setup.connect(), await setup.connect()];
    for (const socket of sockets) socket.credit(10);
    const sent = () => sockets.flatMap((s) => s.events().map((f) => f.id as string));
    /** The socket that got the latest frame of `id`. */
    const holder = (id: string) => sockets.find((s) => s.events().some((f) => f.id === id) && s.events().filter((f) => f.id === id).length === Math.max(...sockets.map((x) => x.events().filter((f) => f.id === id).length)))!;
    const settled = async (n: number, what: string) => {
      await sockets[0]!.until(() => sent().length >= n, what);
      await sockets[0]!.settle();
      expect(sent().length).toBe(n);
    };
    await settled(2, "the heads of both keys");
    expect(new Set(sent())).toEqual(new Set([a1, b1]));
    holder(a1!).send({ type: "ack", ids: [a1] });
    await settled(3, "alice's second");
    expect(sent().filter((id) => id !== b1).sort()).toEqual([a1, a2].sort());
    // Released by a nack, a2 goes out again, before a3.
    holder(a2!).send({ type: "nack", ids: [a2] });
    await settled(4, "alice's second again");
    expect(sent().filter((id) => id === a2).length).toBe(2);
    expect(sent()).not.toContain(a3);
    holder(a2!).send({ type: "ack", ids: [a2] });
    await settled(5, "alice's third");
    expect(sent()).toContain(a3);
  });

  it("counts attempts toward maxAttempts as pulls do: an event sent maxAttempts times without an ack dies", async () => {
    const setup = feedSetup({ pull: { token: FEED_TOKEN, maxAttempts: 2 } });
    const [id] = await setup.send(text(1));
    for (let attempt = 1; attempt <= 2; attempt++) {
      const client = await setup.connect();
      client.credit(1);
      expect((await client.nth("event")).attempts).toBe(attempt);
      client.ws.close(1000, "again");
      await client.close();
    }
    const last = await setup.connect();
    last.credit(1);
    await last.settle(300);
    expect(last.events()).toEqual([]);
    const stats = await queueStub(setup.app).stats(setup.app);
    expect(stats.destinations.find((d) => d.name === "feed")).toMatchObject({ depth: 0, dead: 1 });
    expect((await queueStub(setup.app).deadLetters(10, "feed")).map((d) => [d.id, d.lastError])).toEqual([[id, "leased 2 times without an ack"]]);
  });

  it("answers a ping frame with a pong", async () => {
    const setup = feedSetup();
    const client = await setup.connect();
    client.send({ type: "ping" });
    expect(await client.nth("pong")).toEqual({ type: "pong" });
  });
});

describe("bad frames", () => {
  const cases: [string, (client: FeedClient) => void, string][] = [
    ["binary", (c) => c.ws.send(new Uint8Array([1, 2, 3])), "frames are JSON text, not binary"],
    ["over 64 KiB", (c) => c.send({ type: "ack", ids: ["x"], pad: "x".repeat(64 * 1024) }), "frame over 64 KiB"],
    ["not JSON", (c) => c.send("{type: credit"), "frame is not JSON"],
    ["not an object", (c) => c.send("[1,2]"), "frame is not a JSON object"],
    ["without a type", (c) => c.send({ n: 1 }), "frame has no type"],
    ["of an unknown type", (c) => c.send({ type: "subscribe" }), 'unknown frame type "subscribe"'],
    ["credit of 0", (c) => c.send({ type: "credit", n: 0 }), "credit n must be a whole number from 1 to 1000"],
    // One outstanding: credit 999 fills the window, and one more passes it.
    ["credit past 1000 outstanding", (c) => (c.credit(999), c.credit(1)), "credit would allow more than 1000 events outstanding"],
    ["an ack without ids", (c) => c.send({ type: "ack", ids: [] }), "ids must be an array of 1 to 1000 event ids"],
    ["an ack with a credit of 1.5", (c) => c.send({ type: "ack", ids: ["x"], credit: 1.5 }), "credit must be a whole number from 0 to 1000"],
    ["a nack with a credit of -1", (c) => c.send({ type: "nack", ids: ["x"], credit: -1 }), "credit must be a whole number from 0 to 1000"],
    // Credit 500, one outstanding: an ack of one id may give back at most 500.
    ["an ack whose credit passes 1000 outstanding", (c) => (c.credit(500), c.send({ type: "ack", ids: ["x"], credit: 501 })), "credit would allow more than 1000 events outstanding"],
    ["a nack with a bad delay", (c) => c.send({ type: "nack", ids: ["x"], delaySeconds: -1 }), "nack delaySeconds must be a whole number from 0 to 43200"],
  ];
  for (const [what, sendBad, reason] of cases) {
    it(`a frame ${what} closes its socket with 1008 and releases its events to the others`, async () => {
      const setup = feedSetup();
      const [id] = await setup.send(text(1));
      const bad = await setup.connect("?leaseSeconds=3600");
      bad.credit(1);
      await bad.nth("event");
      const good = await setup.connect();
      good.credit(5);
      sendBad(bad);
      expect(await bad.close()).toEqual({ code: 1008, reason });
      const again = await good.nth("event");
      expect([again.id, again.attempts]).toEqual([id, 2]);
      // Nothing else is affected: the good socket still works.
      const [next] = await setup.send(text(2));
      expect((await good.nth("event", 2)).id).toBe(next);
    });
  }
});

describe("restarts", () => {
  it("after the object restarts, a consumer that reconnects gets at once what its lost socket held, and nothing is lost", async () => {
    const setup = feedSetup();
    const ids = await setup.send(...texts(0, 3));
    const before = await setup.connect("?leaseSeconds=3600");
    before.credit(3);
    await before.nth("event", 3);
    before.send({ type: "ack", ids: [ids[0]] });
    await before.nth("acked");
    // A restart, not a hibernation: the sockets go with the object.
    await evictDurableObject(queueStub(setup.app), { webSockets: "close" });
    await before.close();
    const after = await setup.connect();
    after.credit(10);
    await after.nth("event", 2);
    expect(after.events().map((f) => [f.id, f.attempts])).toEqual([
      [ids[1], 2],
      [ids[2], 2],
    ]);
  });
});

describe("dropping the queue", () => {
  it("closes its sockets with 1012, so that their consumers reconnect to the new queue", async () => {
    const setup = feedSetup();
    await setup.send(text(1));
    const client = await setup.connect();
    client.credit(1);
    await client.nth("event");
    await queueStub(setup.app).purgeAll(setup.app);
    expect(await client.close()).toEqual({ code: 1012, reason: "the queue was dropped; reconnect" });
    const again = await setup.connect();
    again.credit(1);
    const [next] = await setup.send(text(2));
    expect((await again.nth("event")).id).toBe(next);
  });
});

describe("hibernation", () => {
  it("a socket outlives the object's memory: its credit, lease and outstanding count come back from the socket", async () => {
    const setup = feedSetup();
    const [a] = await setup.send(text(1));
    const client = await setup.connect("?leaseSeconds=3600");
    client.credit(2);
    await client.nth("event");
    // Hibernated: the object leaves memory, the socket stays open.
    await evictDurableObject(queueStub(setup.app));
    expect(client.closed).toBeNull();
    const [b] = await setup.send(text(2));
    expect((await client.nth("event", 2)).id).toBe(b);
    const [c] = await setup.send(text(3));
    await client.settle();
    // Credit 2, both used: c waits.
    expect(client.events().map((f) => f.id)).toEqual([a, b]);
    client.send({ type: "ack", ids: [a, b] });
    expect(await client.nth("acked")).toEqual({ type: "acked", acked: 2, notAcked: [] });
    await evictDurableObject(queueStub(setup.app));
    client.credit(1000);
    expect((await client.nth("event", 3)).id).toBe(c);
  });
});

describe("long-poll", () => {
  it("a pull with waitSeconds answers the moment an event is committed", async () => {
    const setup = feedSetup();
    const waiting = setup.api("pull", { waitSeconds: 20 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const [id] = await setup.send(text(1));
    const answer = (await (await waiting).json()) as { ids: string[]; attempts: Record<string, number> };
    expect([answer.ids, answer.attempts]).toEqual([[id], { [id!]: 1 }]);
  });

  it("answers empty after waitSeconds when nothing comes", async () => {
    const setup = feedSetup();
    const started = Date.now();
    const answer = await (await setup.api("pull", { waitSeconds: 1 })).json();
    expect(answer).toEqual({ events: [], ids: [], lease: null, attempts: {} });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
  });

  it("gives several waiting pulls different events", async () => {
    const setup = feedSetup();
    const waiting = [0, 1, 2].map(() => setup.api("pull", { waitSeconds: 20, max: 1 }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const ids = await setup.send(...texts(0, 3));
    const answers = await Promise.all(waiting.map(async (w) => ((await (await w).json()) as { ids: string[] }).ids));
    expect(answers.map((a) => a.length)).toEqual([1, 1, 1]);
    expect(new Set(answers.flat())).toEqual(new Set(ids));
  });

  it("wakes a waiting pull when a lease runs out", async () => {
    const setup = feedSetup();
    const [id] = await setup.send(text(1));
    const first = (await (await setup.api("pull", { leaseSeconds: 1 })).json()) as { ids: string[] };
    expect(first.ids).toEqual([id]);
    const again = (await (await setup.api("pull", { waitSeconds: 10 })).json()) as { ids: string[]; attempts: Record<string, number> };
    expect([again.ids, again.attempts]).toEqual([[id], { [id!]: 2 }]);
  });

  it("stops a waiting pull whose client went away: the next event is not leased to nobody", async () => {
    const setup = feedSetup();
    const controller = new AbortController();
    const request = new Request(`https://wecom-edge.test/queue/${setup.app}/feed/pull`, {
      method: "POST",
      headers: { authorization: `Bearer ${FEED_TOKEN}` },
      body: JSON.stringify({ waitSeconds: 20, leaseSeconds: 600 }),
      signal: controller.signal,
    });
    const left = callWorker(request, setup.environment);
    await new Promise((resolve) => setTimeout(resolve, 200));
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Committed while the abandoned pull would still be waiting: it does not take it.
    const [id] = await setup.send(text(1));
    expect(await (await left).json()).toEqual({ events: [], ids: [], lease: null, attempts: {} });
    const next = (await (await setup.api("pull", {})).json()) as { ids: string[]; attempts: Record<string, number> };
    expect([next.ids, next.attempts]).toEqual([[id], { [id!]: 1 }]);
  });

  it("gives an event to one of several waiting pulls also when a transform makes each take turns", async () => {
    const setup = feedSetup({ transform: '{"text": event.Content}' });
    const waiting = [0, 1, 2].map(async () => (await (await setup.api("pull", { waitSeconds: 3, max: 1 })).json()) as { ids: string[]; attempts: Record<string, number> });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const sent = [...(await setup.send(text(1))), ...(await setup.send(text(2)))];
    const answers = await Promise.all(waiting);
    // Two pulls got one event each, leased once (attempts 1); the third found nothing left and answered empty.
    expect(answers.flatMap((a) => a.ids).sort()).toEqual([...sent].sort());
    expect(answers.map((a) => Object.values(a.attempts)).sort()).toEqual([[], [1], [1]]);
  });

  it("refuses a waitSeconds outside 0–25", async () => {
    const setup = feedSetup();
    for (const waitSeconds of [-1, 26, 1.5, "5"]) {
      expect(await errorOf(await setup.api("pull", { waitSeconds }))).toEqual({ status: 400, code: "invalid_parameter", message: "waitSeconds must be a whole number from 0 to 25" });
    }
  });
});
