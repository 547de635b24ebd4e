/**
 * Fenced pull leases (docs/delivery.md, "Pulling from the queue"): each pull answer
 * carries a lease; an ack or nack acts only on events still held under it.
 */
import { describe, expect, it } from "vitest";
import {
  callbackRequest,
  callWorker,
  errorOf,
  makeDue,
  newBucket,
  queueRows,
  TEST_APP,
  testEnv,
  textMessage,
} from "../support/wecom.js";

const TOKEN = "pull-token-0123456789-abcdefghij";
const ADMIN = "admin-token-for-tests-only-0123456789";

interface PullAnswer {
  events: { id: string; event: { Content: string } }[];
  lease: string | null;
  attempts: Record<string, number>;
}

function setup(pull: Record<string, unknown> = {}) {
  const app = newBucket("lease");
  const environment = { ...testEnv({ apps: { [app]: { ...TEST_APP, pull: { token: TOKEN, ...pull } } } }), ADMIN_TOKEN: ADMIN };
  const post = async (path: string, body: unknown, token = TOKEN) => {
    const response = await callWorker(
      new Request(`https://wecom-edge.test/${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      }),
      environment,
    );
    return { status: response.status, body: (await response.json()) as any };
  };
  return {
    app,
    environment,
    pull: async (body: unknown = {}): Promise<PullAnswer> => {
      const answer = await post(`queue/${app}/pull`, body);
      expect(answer.status).toBe(200);
      return answer.body;
    },
    ack: (body: unknown) => post(`queue/${app}/ack`, body),
    nack: (body: unknown) => post(`queue/${app}/nack`, body),
    admin: (path: string, body?: unknown) =>
      body === undefined
        ? callWorker(new Request(`https://wecom-edge.test/admin/apps/${app}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } }), environment).then(
            async (r) => ({ status: r.status, body: (await r.json()) as any }),
          )
        : post(`admin/apps/${app}${path}`, body, ADMIN),
    async send(...contents: string[]) {
      for (const [i, content] of contents.entries()) {
        const response = await callWorker(await callbackRequest(app, textMessage(content, String(8100 + i))), environment);
        expect(await response.text()).toBe("success");
      }
    },
  };
}

describe("pull leases", () => {
  it("answers each pull with a lease and each event's delivery count; the event JSON is unchanged", async () => {
    const { pull, send } = setup();
    await send("one", "two");
    const answer = await pull({ max: 2 });
    expect(answer.lease).toMatch(/^[0-9a-z]{1,11}\.[0-9a-f]{24}$/);
    expect(answer.events.map((e) => e.event.Content)).toEqual(["one", "two"]);
    expect(Object.keys(answer.events[0]!)).toEqual(["id", "app", "receiveId", "receivedAt", "format", "event", "raw"]);
    expect(answer.attempts).toEqual({ [answer.events[0]!.id]: 1, [answer.events[1]!.id]: 1 });
    expect(await pull()).toEqual({ events: [], ids: [], lease: null, attempts: {} });
  });

  it("acks only what the lease still holds, and says why the rest was not acked", async () => {
    const { pull, ack, send } = setup();
    await send("held", "other");
    const first = await pull({ max: 1 });
    const held = first.events[0]!.id;
    const second = await pull({ max: 1 });
    const other = second.events[0]!.id;
    expect(await ack({ ids: [held, other, "evt_never"], lease: first.lease })).toEqual({
      status: 200,
      body: {
        acked: 1,
        notAcked: [
          { id: other, reason: "unknown" },
          { id: "evt_never", reason: "unknown" },
        ],
      },
    });
    // Acked once only.
    expect((await ack({ ids: [held], lease: first.lease })).body).toEqual({ acked: 0, notAcked: [{ id: held, reason: "unknown" }] });
    expect((await ack({ ids: [other], lease: second.lease })).body).toEqual({ acked: 1, notAcked: [] });
  });

  it("refuses an ack under a lease that ran out, while another consumer holds the event", async () => {
    const { app, pull, ack, send } = setup();
    await send("slow consumer");
    const a = await pull({ leaseSeconds: 1 });
    await scheduler.wait(1_100);
    const b = await pull({ leaseSeconds: 60 });
    const id = a.events[0]!.id;
    expect(b.events.map((e) => e.id)).toEqual([id]);
    expect(b.attempts).toEqual({ [id]: 2 });
    expect((await ack({ ids: [id], lease: a.lease })).body).toEqual({ acked: 0, notAcked: [{ id, reason: "expired" }] });
    expect((await queueRows(app)).length).toBe(1);
    expect((await ack({ ids: [id], lease: b.lease })).body).toEqual({ acked: 1, notAcked: [] });
    expect(await queueRows(app)).toEqual([]);
  });

  it("keeps the unfenced meaning for an ack without a lease", async () => {
    const { app, pull, ack, send } = setup();
    await send("legacy");
    const { events } = await pull();
    expect((await ack({ ids: [events[0]!.id, "evt_never"] })).body).toEqual({ acked: 1, notAcked: [{ id: "evt_never", reason: "unknown" }] });
    expect(await queueRows(app)).toEqual([]);
  });

  it("releases early with nack, now or after delaySeconds", async () => {
    const { app, pull, nack, send } = setup();
    await send("now", "later");
    const leased = await pull({ max: 2 });
    const [now, later] = leased.events.map((e) => e.id);
    expect((await nack({ ids: [now], lease: leased.lease })).body).toEqual({ released: 1, notReleased: [] });
    const before = Date.now();
    expect((await nack({ ids: [later, "evt_never"], lease: leased.lease, delaySeconds: 120 })).body).toEqual({
      released: 1,
      notReleased: [{ id: "evt_never", reason: "unknown" }],
    });
    const again = await pull({ max: 10 });
    expect(again.events.map((e) => e.event.Content)).toEqual(["now"]);
    expect(again.attempts).toEqual({ [now!]: 2 });
    const row = (await queueRows(app)).find((r) => r.id === later)!;
    expect(row.available_at).toBeGreaterThanOrEqual(before + 120_000);
    expect(row.available_at).toBeLessThanOrEqual(Date.now() + 120_000);
    // A released event is no longer held: a second nack or an ack under the old lease does nothing.
    expect((await nack({ ids: [later], lease: leased.lease })).body).toEqual({ released: 0, notReleased: [{ id: later, reason: "unknown" }] });
  });

  it("refuses a malformed lease or delay with 400 and changes nothing", async () => {
    const { app, pull, ack, nack, send } = setup();
    await send("x");
    const leased = await pull();
    const id = leased.events[0]!.id;
    const bad = { error: { code: "invalid_parameter", message: "lease must be the lease string of a pull answer" } };
    expect(await ack({ ids: [id], lease: 7 })).toEqual({ status: 400, body: bad });
    expect(await nack({ ids: [id] })).toEqual({ status: 400, body: bad });
    expect(await nack({ ids: [id], lease: leased.lease, delaySeconds: -1 })).toEqual({
      status: 400,
      body: { error: { code: "invalid_parameter", message: "delaySeconds must be a whole number from 0 to 43200" } },
    });
    expect((await queueRows(app)).map((r) => r.attempts)).toEqual([1]);
  });

  it("makes an event leased pull.maxAttempts times without an ack a dead letter, listed and replayable", async () => {
    const { app, pull, send, admin } = setup({ maxAttempts: 2 });
    await send("poison", "fine");
    for (let round = 1; round <= 2; round++) {
      const answer = await pull({ max: 1 });
      expect(answer.events.map((e) => e.event.Content)).toEqual(["poison"]);
      expect(Object.values(answer.attempts)).toEqual([round]);
      await makeDue(app);
    }
    // The third lease of "poison" would pass maxAttempts: it is dead-lettered, and the batch is
    // refilled, so "fine" comes in the same answer (an empty answer would say "drained").
    expect((await pull({ max: 1 })).events.map((e) => e.event.Content)).toEqual(["fine"]);
    const dead = await admin("/dead");
    expect(dead.body.events.map((e: any) => [e.attempts, e.lastError, e.event.event.Content])).toEqual([
      [2, "leased 2 times without an ack", "poison"],
    ]);
    expect((await admin("")).body).toMatchObject({ dead: 1, depth: 1, mode: "pull" });
    expect((await admin("/replay", { all: true })).body).toEqual({ replayed: 1 });
    const replayed = await pull();
    expect(replayed.events.map((e) => e.event.Content)).toEqual(["poison"]);
    expect(Object.values(replayed.attempts)).toEqual([1]);
  });

  it("refuses pull.maxAttempts outside 1..1000 by its path", async () => {
    const app = newBucket("lease-cfg");
    const environment = testEnv({ apps: { [app]: { ...TEST_APP, pull: { token: TOKEN, maxAttempts: 0 } } } });
    const response = await callWorker(await callbackRequest(app, textMessage("x")), environment);
    expect(await errorOf(response)).toEqual({ status: 503, code: "invalid_config", message: `app "${app}" is misconfigured` });
    expect(await queueRows(app)).toEqual([]);
  });
});
