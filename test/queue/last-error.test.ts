/**
 * `lastError` after the webhook recovers (issue 12, "No false signals"): the
 * error is kept with the time of the attempt that failed, and
 * `lastDeliveredAt` says when an event last went through (a 2xx, or an ack).
 * The admin page says "recovered" when the delivery came after the error
 * (docs/operating.md, "Admin page").
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../src/config.js";
import { pushBatch, type PushContext } from "../../src/destinations/push.js";
import type { DeliveryRow, DeliveryStore } from "../../src/destinations/store.js";
import { encodeSettings } from "../../src/queue/settings.js";
import type { WebhookOutcome } from "../../src/webhook/send.js";
import { DEFAULT_ROUTE, callbackRequest, callWorker, drain, makeDue, newBucket, queueStub, received, receiverUrl, testEnv, textMessage, webhookApp } from "../support/wecom.js";

const ADMIN = (env as unknown as { ADMIN_TOKEN: string }).ADMIN_TOKEN;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

afterEach(() => {
  vi.restoreAllMocks();
});

describe("pushBatch reports when each attempt failed and when the last one went through", () => {
  const webhook = parseConfig({ WECOM_APPS: JSON.stringify({ a: webhookApp("ok/a", {}, { maxAttempts: 5, minBackoffMs: 1000, maxBackoffMs: 1000 }) }) }).apps.get("a")!.webhook!;
  const rows: DeliveryRow[] = ["evt_1", "evt_2", "evt_3"].map((id, i) => ({ seq: i + 1, id, body: "{}", size: 2, attempts: 0, receivedAt: 0, key: null, pending: null }));
  /** A store that keeps nothing (its caller claims the rows): pushBatch's bookkeeping is what is checked. */
  const store = { retry: () => {}, kill: () => true, delivered: (_: string, done: readonly DeliveryRow[]) => done.length } as unknown as DeliveryStore;

  async function run(outcomes: readonly WebhookOutcome[]) {
    // The attempts are made together (concurrency 6) and answered one after another, at 1000, 2000 and 3000.
    let clock = 0;
    vi.spyOn(Date, "now").mockImplementation(() => clock);
    let sent = 0;
    const context: PushContext = {
      app: "a",
      destination: "default",
      webhook: { ...webhook },
      store,
      inFlight: new Set(),
      concurrency: 6,
      rate: null,
      spend: true,
      isPaused: () => false,
      current: () => true,
      pause: () => {},
      body: async (row) => ({ ok: true, body: row.body }),
      send: async () => {
        const n = sent++;
        await new Promise((resolve) => setTimeout(resolve, 5 * (n + 1)));
        clock = 1000 * (n + 1);
        return outcomes[n]!;
      },
      sleep: async () => {},
    };
    vi.spyOn(console, "log").mockImplementation(() => {});
    vi.spyOn(console, "warn").mockImplementation(() => {});
    return pushBatch(context, rows, 0);
  }

  const ok: WebhookOutcome = { ok: true, status: 204 } as WebhookOutcome;
  const down: WebhookOutcome = { ok: false, status: 503, error: "webhook answered 503" } as WebhookOutcome;

  it("a failure then deliveries: the error at its own time, the delivery after it", async () => {
    expect(await run([down, ok, ok])).toEqual({
      delivered: 2,
      retried: 1,
      failures: [{ seq: 1, error: "attempt 1: webhook answered 503", at: 1000 }],
      lastDeliveredAt: 3000,
      deadLetters: [],
    });
  });

  it("deliveries then a failure: the delivery before the error", async () => {
    const report = await run([ok, ok, down]);
    expect([report.failures, report.lastDeliveredAt]).toEqual([[{ seq: 3, error: "attempt 1: webhook answered 503", at: 3000 }], 2000]);
  });

  it("only failures: no delivery is reported; only deliveries: no failure is", async () => {
    const failed = await run([down, down, down]);
    expect([failed.failures.map((f) => f.at), failed.lastDeliveredAt]).toEqual([[1000, 2000, 3000], null]);
    const delivered = await run([ok, ok, ok]);
    expect([delivered.failures, delivered.lastDeliveredAt]).toEqual([[], 3000]);
  });
});

describe("GET /admin/apps/{app}: lastError stays, with lastDeliveredAt beside it", () => {
  it("is null and null for a new queue, the error alone while the webhook is down, and a later delivery once it is back", async () => {
    const app = newBucket("recover");
    const environment = testEnv({ apps: { [app]: webhookApp(`toggle/${app}`, {}, { maxAttempts: 5, minBackoffMs: 600_000, maxBackoffMs: 600_000 }) } });
    const stats = async () => {
      const response = await callWorker(new Request(`https://wecom-edge.test/admin/apps/${app}`, { headers: { authorization: `Bearer ${ADMIN}` } }), environment);
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown>;
      return { lastError: body.lastError as { at: string; message: string } | null, lastDeliveredAt: body.lastDeliveredAt as string | null, delivered: body.delivered };
    };
    expect(await stats()).toEqual({ lastError: null, lastDeliveredAt: null, delivered: 0 });

    await fetch(`${receiverUrl()}/toggle/${app}/down`, { method: "PUT" });
    const beforeFailure = Date.now();
    expect((await callWorker(await callbackRequest(app, textMessage("first", "7001")), environment)).status).toBe(200);
    await drain(app);
    const failed = await stats();
    expect(failed).toEqual({ lastError: { at: expect.stringMatching(ISO), message: "attempt 1: webhook answered 503" }, lastDeliveredAt: null, delivered: 0 });
    expect(Date.parse(failed.lastError!.at)).toBeGreaterThanOrEqual(beforeFailure);

    await fetch(`${receiverUrl()}/toggle/${app}/up`, { method: "PUT" });
    await makeDue(app);
    await drain(app);
    expect((await received(app)).map((r) => r.status)).toEqual([503, 200]);
    const recovered = await stats();
    // The error is kept as it was; the delivery is later than it.
    expect(recovered.lastError).toEqual(failed.lastError);
    expect(recovered.delivered).toBe(1);
    expect(recovered.lastDeliveredAt).toMatch(ISO);
    expect(Date.parse(recovered.lastDeliveredAt!)).toBeGreaterThan(Date.parse(failed.lastError!.at));

    // The webhook fails again: a new error, later than that delivery, which stays.
    await fetch(`${receiverUrl()}/toggle/${app}/down`, { method: "PUT" });
    expect((await callWorker(await callbackRequest(app, textMessage("second", "7002")), environment)).status).toBe(200);
    await drain(app);
    const again = await stats();
    expect(again.lastDeliveredAt).toBe(recovered.lastDeliveredAt);
    expect(again.lastError!.message).toBe("attempt 1: webhook answered 503");
    expect(Date.parse(again.lastError!.at)).toBeGreaterThan(Date.parse(recovered.lastDeliveredAt!));
  });

  it("an ack sets lastDeliveredAt for a pull app; an ack of nothing does not", async () => {
    const app = newBucket("recover-pull");
    const settings = encodeSettings(parseConfig({ WECOM_APPS: JSON.stringify({ [app]: { ...webhookApp("ok/x"), webhook: undefined, pull: { token: "pull-token-for-tests-only-0123456789" } } }) }).apps.get(app)!);
    const stub = queueStub(app);
    expect(await stub.enqueue(app, settings, { id: "evt_pull_1", body: '{"id":"evt_pull_1"}', receivedAt: Date.now(), ...DEFAULT_ROUTE })).toEqual({ status: "queued" });
    const pulled = await stub.pull(app, settings, "default", 10, 60);
    expect(await stub.ack("default", ["evt_unknown"], pulled.lease)).toEqual({ acked: 0, notAcked: [{ id: "evt_unknown", reason: "unknown" }] });
    expect((await stub.stats(app)).lastDeliveredAt).toBeNull();
    const before = Date.now();
    expect(await stub.ack("default", ["evt_pull_1"], pulled.lease)).toEqual({ acked: 1, notAcked: [] });
    const stats = await stub.stats(app);
    expect([stats.delivered, stats.lastError]).toEqual([1, null]);
    expect(stats.lastDeliveredAt).toMatch(ISO);
    expect(Date.parse(stats.lastDeliveredAt!)).toBeGreaterThanOrEqual(before);
  });
});
