/**
 * Group commit (src/queue/group.ts; docs/architecture.md, "Group commit"):
 * callbacks that reach a queue together are stored in one turn, so that
 * their writes share one commit, and each is answered as it would be alone.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AppQueue } from "../../src/queue/app-queue.js";
import { CommitGroup } from "../../src/queue/group.js";
import { DEFAULT_ROUTE, newBucket, queueStub } from "../support/wecom.js";

const PULL = JSON.stringify({ mode: "pull", maxAttempts: 20 });
const event = (id: string, extra: object = {}) => ({ id, body: JSON.stringify({ id }), receivedAt: Date.now(), ...DEFAULT_ROUTE, ...extra });
const storedEvents = (queue: AppQueue) => (queue as unknown as { ctx: DurableObjectState }).ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM events").one().n;

describe("group commit", () => {
  it("joins every call made before the next timer turn, and starts a new group after it", async () => {
    const group = new CommitGroup();
    const first = group.join();
    expect(group.join()).toBe(first);
    await first;
    const next = group.join();
    expect(next).not.toBe(first);
    await next;
  });

  it("stores callbacks that arrive together in their group's turn, each answered as alone, a second copy of one as a duplicate", async () => {
    const app = newBucket("group");
    await queueStub(app).stats(app);
    await runInDurableObject(queueStub(app), async (queue: AppQueue) => {
      // The group's turn, held back by the test.
      let turn!: () => void;
      const held = new Promise<void>((resolve) => (turn = resolve));
      (queue as unknown as { group: { join(): Promise<void> } }).group = { join: () => held };
      const answers = Promise.all([
        queue.enqueue(app, PULL, event("evt_group_a")),
        queue.enqueue(app, PULL, event("evt_group_b")),
        queue.enqueue(app, PULL, event("evt_group_a")),
        queue.enqueue(app, PULL, event("evt_group_c")),
      ]);
      // Nothing is written before the group's turn, however long it takes.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(storedEvents(queue)).toBe(0);
      turn();
      expect(await answers).toEqual([{ status: "queued" }, { status: "queued" }, { status: "duplicate" }, { status: "queued" }]);
      expect(storedEvents(queue)).toBe(3);
    });
    // In the order they arrived.
    expect((await queueStub(app).pull(app, PULL, "default", 10, 600)).ids).toEqual(["evt_group_a", "evt_group_b", "evt_group_c"]);
  });

  it("answers the second of two copies of an unrouted AI-bot message as a duplicate, and counts it once", async () => {
    const app = newBucket("group-bot");
    // The queue knows its settings already.
    await queueStub(app).enqueue(app, PULL, event("evt_group_before"));
    const stream = { id: "stream-group-1", placeholder: "思考中…", expiresAt: Date.now() + 600_000 };
    const message = event("evt_group_bot", { stream, routes: [], kind: "text" });
    const answers = await runInDurableObject(queueStub(app), (queue: AppQueue) => Promise.all([queue.enqueue(app, PULL, message), queue.enqueue(app, PULL, message)]));
    expect(answers.map((a) => a.status)).toEqual(["unrouted", "duplicate"]);
    const stats = await queueStub(app).stats(app);
    expect([stats.depth, stats.unrouted, stats.streamBytes]).toEqual([1, { text: 1 }, new TextEncoder().encode("思考中…").length]);
  });

  it("keeps the earliest of the alarms asked for together", async () => {
    const app = newBucket("group-alarm");
    await queueStub(app).stats(app);
    const [alarm, asked] = await runInDurableObject(queueStub(app), async (queue: AppQueue, state) => {
      await state.storage.deleteAlarm();
      const internals = queue as unknown as { alarmAt: number | null | undefined; wake(at: number): Promise<void> };
      internals.alarmAt = undefined;
      const now = Date.now();
      await Promise.all([internals.wake(now + 60_000), internals.wake(now + 900_000)]);
      return [await state.storage.getAlarm(), now + 60_000];
    });
    expect(alarm).toBe(asked);
  });
});
