/**
 * GET /admin/apps/{app}/dead/{id} (docs/operating.md, "Admin API"): one dead letter's
 * stored event JSON as the whole body, byte for byte, so that the admin page
 * can show it with `response.text()` and no JSON re-encoding.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AppQueue } from "../../src/queue/app-queue.js";
import { callbackRequest, callWorker, drain, newBucket, queueStub, rowsRead, testEnv, textMessage, webhookApp } from "../support/wecom.js";

const ADMIN = "admin-token-for-tests-only-0123456789";
const SLOW_RETRY = { minBackoffMs: 600_000, maxBackoffMs: 600_000, maxAttempts: 1 };
const BIG_MSG_ID = "12345678901234567890";

/** An app whose webhook is down, holding one dead letter with a 20-digit MsgId. */
async function oneDeadLetter() {
  const app = newBucket("deadone");
  const environment = { ...testEnv({ apps: { [app]: webhookApp(`status/503/${app}`, {}, SLOW_RETRY) } }), ADMIN_TOKEN: ADMIN };
  expect((await callWorker(await callbackRequest(app, textMessage("byte for byte", BIG_MSG_ID)), environment)).status).toBe(200);
  await drain(app);
  const stored = await runInDurableObject(queueStub(app), (_, state) =>
    state.storage.sql.exec<{ id: string; body: string }>("SELECT e.id AS id, COALESCE(d.body, e.body) AS body FROM events e JOIN deliveries d ON d.seq = e.seq WHERE d.state = 'dead'").one(),
  );
  const get = (path: string, token: string | null = ADMIN) =>
    callWorker(
      new Request(`https://wecom-edge.test/admin/apps/${app}${path}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } }),
      environment,
    );
  return { app, stored, get };
}

describe("one dead letter by id", () => {
  it("answers the stored event JSON byte for byte, a 20-digit MsgId included", async () => {
    const { stored, get } = await oneDeadLetter();
    expect(stored.body).toContain(`"MsgId":"${BIG_MSG_ID}"`);
    const response = await get(`/dead/${encodeURIComponent(stored.id)}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(bytes).toEqual(new TextEncoder().encode(stored.body));
  });

  it("is one read through the index on id", async () => {
    const { app, stored } = await oneDeadLetter();
    const { rows, result: body } = await rowsRead(app, (queue) => queue.deadLetterBody(stored.id));
    expect(body).toBe(stored.body);
    // The event by the unique index on id, and its delivery by primary key.
    expect(rows).toBe(2);
  });

  it("is 404 for an id that names no dead letter, and 401 without the token", async () => {
    const { stored, get } = await oneDeadLetter();
    for (const id of ["evt_never", "x".repeat(200)]) {
      const missing = await get(`/dead/${id}`);
      expect(missing.status).toBe(404);
      expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("not_found");
    }
    for (const token of [null, "wrong-token-wrong-token-wrong-token"]) {
      const refused = await get(`/dead/${stored.id}`, token);
      expect(refused.status).toBe(401);
      expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(await refused.text()).not.toContain(stored.body);
    }
  });

  it("is 404 once the dead letter is replayed", async () => {
    const { app, stored, get } = await oneDeadLetter();
    await runInDurableObject(queueStub(app), (instance: AppQueue) => instance.setPaused(true));
    expect(await runInDurableObject(queueStub(app), (instance: AppQueue) => instance.replay([stored.id]))).toBe(1);
    expect((await get(`/dead/${stored.id}`)).status).toBe(404);
  });

  it("is never cached, nor is any admin answer: cache-control: no-store on success, refusal and 404 alike", async () => {
    const { app, stored, get } = await oneDeadLetter();
    const answers = {
      deadOne: await get(`/dead/${encodeURIComponent(stored.id)}`),
      stats: await get(""),
      unknownDead: await get("/dead/evt_nothing"),
      noToken: await get(`/dead/${encodeURIComponent(stored.id)}`, null),
      wrongToken: await get("/refusals", "wrong-token-wrong-token"),
      wrongMethod: await callWorker(
        new Request(`https://wecom-edge.test/admin/apps/${app}/pause`, { headers: { authorization: `Bearer ${ADMIN}` } }),
        { ...testEnv({ apps: { [app]: webhookApp(`status/503/${app}`, {}, SLOW_RETRY) } }), ADMIN_TOKEN: ADMIN },
      ),
    };
    expect(Object.fromEntries(Object.entries(answers).map(([name, response]) => [name, [response.status, response.headers.get("cache-control")]]))).toEqual({
      deadOne: [200, "no-store"],
      stats: [200, "no-store"],
      unknownDead: [404, "no-store"],
      noToken: [401, "no-store"],
      wrongToken: [401, "no-store"],
      wrongMethod: [405, "no-store"],
    });
    // Only the admin API: a callback's answer is left as it was.
    const health = await callWorker(new Request("https://wecom-edge.test/healthz"), testEnv({ apps: { [app]: webhookApp(`ok/${app}`) } }));
    expect(health.headers.get("cache-control")).toBe(null);
  });
});
