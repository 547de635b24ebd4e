/** Recent refusals (docs/operating.md, "Recent refusals"): what was refused, why, and a hint; never the plaintext. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { REFUSALS_PER_WINDOW } from "../../src/routes/refusals.js";
import { UNKNOWN_APP_HINT } from "../../src/wecom/hints.js";
import { callbackRequest, callWorker, newBucket, queueStub, TEST_APP, testEnv, textMessage, webhookApp } from "../support/wecom.js";

const ADMIN = (env as unknown as { ADMIN_TOKEN: string }).ADMIN_TOKEN;

async function refusalsOf(app: string, environment: Record<string, unknown>) {
  const response = await callWorker(new Request(`https://wecom-edge.test/admin/apps/${app}/refusals`, { headers: { authorization: `Bearer ${ADMIN}` } }), environment);
  expect(response.status).toBe(200);
  return ((await response.json()) as { refusals: { at: string; method: string; code: unknown; reason: string; hint: string }[] }).refusals;
}

describe("recent refusals", () => {
  it("keeps each refused callback of an app, newest first, with a hint and without its plaintext", async () => {
    const app = newBucket("refused");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`) } });
    const secret = "salary 98765 do-not-keep";
    await callWorker(await callbackRequest(app, textMessage(secret), { token: "wrongToken" }), environment);
    await callWorker(await callbackRequest(app, textMessage(secret), { timestamp: "1000000000" }), environment);
    await callWorker(await callbackRequest(app, textMessage(secret), { receiveId: "tj0123456789abcdef" }), environment);
    expect((await callWorker(await callbackRequest(app, textMessage("fine")), environment)).status).toBe(200);
    const kept = await refusalsOf(app, environment);
    expect(kept.map(({ method, code, reason, hint }) => ({ method, code, reason, hint }))).toEqual([
      {
        method: "POST",
        code: -40005,
        reason: "receiveId is not one this app accepts",
        hint: "the message was encrypted for another receiveId: a suite id (tj…) where the app expects a corp id (ww…), or the other way round; check receiveId",
      },
      {
        method: "POST",
        code: "stale_timestamp",
        reason: "timestamp is more than 300 s from the gateway's clock",
        hint: "the timestamp is outside WECOM_MAX_SKEW_SECONDS: a replay, or a clock far off",
      },
      {
        method: "POST",
        code: -40001,
        reason: "msg_signature does not match",
        hint: "the Token differs from the one in WeCom's console (or the body or URL was changed on the way); `npx wecom-edge diagnose` says which",
      },
    ]);
    expect(Date.parse(kept[0]!.at)).toBeGreaterThan(Date.now() - 60_000);
    expect(JSON.stringify(kept)).not.toContain("98765");
    expect(JSON.stringify(kept)).not.toContain(TEST_APP.token);
  });

  it('keeps callbacks to app names that are not configured under "*", naming the app asked for', async () => {
    const app = newBucket("real");
    const asked = newBucket("typo");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`) } });
    expect((await callWorker(await callbackRequest(asked, textMessage("hello")), environment)).status).toBe(401);
    const kept = (await refusalsOf("*", environment)).filter(({ reason }) => reason.includes(asked));
    expect(kept.map(({ method, code, reason, hint }) => ({ method, code, reason, hint }))).toEqual([
      {
        method: "POST",
        code: -40001,
        reason: `msg_signature does not match: no app named "${asked}"`,
        hint: UNKNOWN_APP_HINT,
      },
    ]);
    // The app that exists keeps none of it.
    expect(await refusalsOf(app, environment)).toEqual([]);
    // "*" is not a name for anything else in the admin API.
    const stats = await callWorker(new Request("https://wecom-edge.test/admin/apps/*", { headers: { authorization: `Bearer ${ADMIN}` } }), environment);
    expect(stats.status).toBe(404);
  });

  it("keeps at most the last 100", async () => {
    const app = newBucket("hundred");
    const stub = queueStub(app);
    for (let i = 0; i < 105; i++) await stub.recordRefusal({ at: i, method: "POST", code: "-40001", reason: `r${i}`, hint: "h" });
    const kept = await stub.refusals();
    expect([kept.length, kept[0]!.reason, kept[99]!.reason]).toEqual([100, "r104", "r5"]);
  });

  it(`writes at most ${REFUSALS_PER_WINDOW} per app per 10 s in an isolate: a flood of forged callbacks costs little`, async () => {
    const app = newBucket("flood");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}`) } });
    for (let i = 0; i < REFUSALS_PER_WINDOW + 5; i++) {
      expect((await callWorker(await callbackRequest(app, textMessage(`x${i}`), { token: "forger" }), environment)).status).toBe(401);
    }
    expect((await refusalsOf(app, environment)).length).toBe(REFUSALS_PER_WINDOW);
  });
});
