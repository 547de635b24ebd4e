/**
 * The five alerts end to end (docs/operating.md, "Alerts"): raised by the queues and
 * the Cron Trigger's watch, sent by the outbox to a robot (markdown) and a
 * signed webhook on the local receiver; never with a secret or a plaintext,
 * never in a callback's way, and no work at all when WECOM_ALERTS is unset.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AlertOutbox } from "../../src/alerts/outbox.js";
import worker from "../../src/index.js";
import { hintFor } from "../../src/wecom/hints.js";
import {
  callbackRequest,
  callWorker,
  drain,
  fillQueue,
  makeDue,
  newBucket,
  queueRows,
  queueStub,
  received,
  receiverUrl,
  rowsRead,
  TEST_APP,
  testEnv,
  textMessage,
  WEBHOOK_SECRET,
  webhookApp,
} from "../support/wecom.js";
import {
  ALERT_SECRET,
  alertsConfig,
  drainOutbox,
  outbox,
  outboxRows,
  resetOutbox,
  rewindRateLimits,
  robotMessages,
  ROBOT_KEY,
  useAlerts,
  webhookAlerts,
  type AlertBody,
} from "./helpers.js";

const ADMIN = (env as unknown as { ADMIN_TOKEN: string }).ADMIN_TOKEN;

/** An app queue's AlertGate, as the test reads and rewinds it. */
interface Gate {
  alerts: { gated: Map<string, { queuedAt: number | null; held: number; calling: boolean }> };
}

/** What an app queue holds back from the outbox: per kind and app, how many since its last call. */
function gateOf(app: string): Promise<{ key: string; held: number }[]> {
  return runInDurableObject(queueStub(app), (instance) =>
    [...(instance as unknown as Gate).alerts.gated.entries()].map(([key, { held }]) => ({ key, held })),
  );
}
const PULL_TOKEN = "pull-token-SECRET-0123456789abcdef";
const PLAINTEXT = "salary 98765 PLAINTEXT-MARKER";

beforeEach(resetOutbox);
afterEach(() => useAlerts(undefined));

/** What no alert may carry: every secret of the app and of the alert channels, and the message's plaintext. */
const NEVER = [TEST_APP.token, TEST_APP.encodingAESKey, WEBHOOK_SECRET, WEBHOOK_SECRET.slice("whsec_".length), PULL_TOKEN, ROBOT_KEY, ALERT_SECRET, "98765", "PLAINTEXT-MARKER"];

async function expectNoSecrets(bucket: string): Promise<void> {
  const bodies = [...(await received(bucket)), ...(await received(`${bucket}-hook`))].map((request) => request.body);
  expect(bodies.length).toBeGreaterThan(0);
  for (const secret of NEVER) expect(bodies.join("\n")).not.toContain(secret);
}

/** The one alert each channel got, the webhook's checked against its signature. */
async function theAlert(bucket: string): Promise<{ markdown: string; alert: AlertBody }> {
  await drainOutbox();
  const [markdowns, alerts] = [await robotMessages(bucket), await webhookAlerts(bucket)];
  expect([markdowns.length, alerts.length]).toEqual([1, 1]);
  await expectNoSecrets(bucket);
  return { markdown: markdowns[0]!, alert: alerts[0]! };
}

function scheduled(environment: Record<string, unknown>): Promise<void> {
  return worker.scheduled({ cron: "* * * * *", scheduledTime: Date.now(), noRetry() {} } as ScheduledController, environment as never);
}

function pull(app: string, environment: Record<string, unknown>): Promise<Response> {
  return callWorker(
    new Request(`https://wecom-edge.test/queue/${app}/pull`, { method: "POST", headers: { authorization: `Bearer ${PULL_TOKEN}` }, body: "{}" }),
    environment,
  );
}

describe("alerts", () => {
  it("dead_letter: a push that reached webhook.maxAttempts", async () => {
    const app = newBucket("dead");
    useAlerts(alertsConfig(app));
    const environment = testEnv({ apps: { [app]: webhookApp(`status/500/${app}-target`, {}, { maxAttempts: 1 }) } });
    expect((await callWorker(await callbackRequest(app, textMessage(PLAINTEXT)), environment)).status).toBe(200);
    await drain(app);
    const { id } = (await queueRows(app))[0]!;
    const { markdown, alert } = await theAlert(app);
    expect(alert).toMatchObject({
      type: "wecom-edge.alert",
      kind: "dead_letter",
      app,
      summary: `1 event of app "${app}" became a dead letter`,
      hint: `The webhook kept failing (see lastError in GET /admin/apps/${app}): fix it, then replay them: POST /admin/apps/${app}/replay {"all":true} (or list them first: GET /admin/apps/${app}/dead)`,
      details: { mode: "push", count: 1, ids: [id], lastError: "attempt 1: webhook answered 500" },
      suppressed: 0,
    });
    expect(markdown.split("\n").slice(0, 2)).toEqual([`**wecom-edge: dead letters** · app \`${app}\``, `> 1 event of app "${app}" became a dead letter`]);
  });

  it("dead_letter: a pull event leased pull.maxAttempts times without an ack", async () => {
    const app = newBucket("poison");
    useAlerts(alertsConfig(app));
    const environment = testEnv({ apps: { [app]: { ...TEST_APP, pull: { token: PULL_TOKEN, maxAttempts: 1 } } } });
    expect((await callWorker(await callbackRequest(app, textMessage(PLAINTEXT)), environment)).status).toBe(200);
    const { id } = (await queueRows(app))[0]!;
    expect(((await (await pull(app, environment)).json()) as { events: unknown[] }).events.length).toBe(1);
    await makeDue(app);
    expect(((await (await pull(app, environment)).json()) as { events: unknown[] }).events.length).toBe(0);
    const { markdown, alert } = await theAlert(app);
    expect(alert).toMatchObject({
      kind: "dead_letter",
      app,
      hint: `A consumer leased it pull.maxAttempts times without an ack: fix the consumer, then replay them: POST /admin/apps/${app}/replay {"all":true} (or list them first: GET /admin/apps/${app}/dead)`,
      details: { mode: "pull", count: 1, ids: [id], lastError: "leased 1 times without an ack" },
    });
    expect(markdown).toContain(`> ids: <font color="comment">${id}</font>`);
  });

  it("push_paused: the webhook answered 410 Gone (and no dead_letter besides)", async () => {
    const app = newBucket("gone");
    useAlerts(alertsConfig(app));
    const environment = testEnv({ apps: { [app]: webhookApp(`status/410/${app}-target`) } });
    expect((await callWorker(await callbackRequest(app, textMessage(PLAINTEXT)), environment)).status).toBe(200);
    await drain(app);
    const { id } = (await queueRows(app))[0]!;
    const { markdown, alert } = await theAlert(app);
    expect(alert).toMatchObject({
      kind: "push_paused",
      app,
      summary: `pushing for app "${app}" is paused: its webhook answered 410 Gone`,
      hint: `Events keep queueing meanwhile. Fix the webhook, resume: POST /admin/apps/${app}/resume, then replay them: POST /admin/apps/${app}/replay {"all":true} (or list them first: GET /admin/apps/${app}/dead)`,
      details: { count: 1, ids: [id] },
    });
    expect(markdown.split("\n")[0]).toBe(`**wecom-edge: pushing paused** · app \`${app}\``);
  });

  it("refusal_burst: more than refusalBurst.count refused callbacks within its minutes, once per interval", async () => {
    const app = newBucket("probe");
    useAlerts(alertsConfig(app, { alerts: { refusalBurst: { count: 2, minutes: 5 } } }));
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}-target`) } });
    for (let i = 0; i < 4; i++) {
      expect((await callWorker(await callbackRequest(app, textMessage(PLAINTEXT), { token: "wrongToken" }), environment)).status).toBe(401);
    }
    const { markdown, alert } = await theAlert(app);
    expect(alert).toMatchObject({
      kind: "refusal_burst",
      app,
      summary: `3 refused callbacks for app "${app}" in the last 5 minutes (threshold 2); most often -40001`,
      hint: `${hintFor(-40001)}. A burst can also be someone probing the URL. See GET /admin/apps/${app}/refusals`,
      details: { refusals: 3, minutes: 5, threshold: 2, code: -40001, codeCount: 3 },
    });
    expect(markdown.split("\n")[0]).toBe(`**wecom-edge: burst of refused callbacks** · app \`${app}\``);
    // The fourth was held back by the queue itself, without a call to the outbox, and is counted for the next.
    expect(await gateOf(app)).toEqual([{ key: `refusal_burst\n${app}`, held: 1 }]);
    expect(await runInDurableObject(outbox(), (_, state) => state.storage.sql.exec("SELECT suppressed FROM rate WHERE app = ?", app).one().suppressed)).toBe(0);
  });

  it("refusal_burst: a flood makes one call to the outbox per interval, and the next alert counts every one held back", async () => {
    const app = newBucket("flood");
    useAlerts(alertsConfig(app, { alerts: { refusalBurst: { count: 2, minutes: 5 } }, minIntervalMinutes: 30 }));
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}-target`) } });
    const shared = env as unknown as Record<string, unknown>;
    const real = shared.ALERTS as DurableObjectNamespace<AlertOutbox>;
    // The real outbox, behind a stand-in that counts the raises that reach it.
    let calls = 0;
    const counting = {
      getByName: (name: string) => ({
        raise: (...args: Parameters<AlertOutbox["raise"]>) => {
          calls++;
          return real.getByName(name).raise(...args);
        },
      }),
    };
    shared.ALERTS = counting;
    const refuse = async (n: number) => {
      for (let i = 0; i < n; i++) {
        expect((await callWorker(await callbackRequest(app, textMessage(`forged ${i}`), { token: "wrongToken" }), environment)).status).toBe(401);
      }
    };
    try {
      // Refusals 3 to 10 are over the threshold: the first of them is queued, the 7 others held back in the queue.
      await refuse(10);
      expect(calls).toBe(1);
      expect(await gateOf(app)).toEqual([{ key: `refusal_burst\n${app}`, held: 7 }]);
      // minIntervalMinutes later, for the queue and for the outbox alike.
      await runInDurableObject(queueStub(app), (instance) => {
        for (const gated of (instance as unknown as Gate).alerts.gated.values()) gated.queuedAt! -= 30 * 60_000;
      });
      shared.ALERTS = real;
      await rewindRateLimits(30 * 60_000);
      shared.ALERTS = counting;
      await refuse(1);
      expect(calls).toBe(2);
      expect(await gateOf(app)).toEqual([{ key: `refusal_burst\n${app}`, held: 0 }]);
    } finally {
      shared.ALERTS = real;
    }
    await drainOutbox();
    expect((await webhookAlerts(app)).map(({ details, suppressed }) => ({ refusals: details.refusals, suppressed }))).toEqual([
      { refusals: 3, suppressed: 0 },
      { refusals: 11, suppressed: 7 },
    ]);
    expect((await robotMessages(app))[1]).toContain(" · 7 more since the last alert of this kind");
  });

  it("dead_letter: a push batch sets the queue's next alarm before it raises its alert, and a slow outbox holds up no push", async () => {
    const app = newBucket("slowbox");
    useAlerts(alertsConfig(app));
    const environment = testEnv({ apps: { [app]: webhookApp(`status/500/${app}-target`, {}, { maxAttempts: 1, timeoutMs: 60_000 }) } });
    // An event due in 30 s: not in the first batch, and the alarm after it is for it.
    await fillQueue(app, 1, "later");
    const laterAt = Date.now() + 30_000;
    await runInDurableObject(queueStub(app), (_, state) => {
      state.storage.sql.exec("UPDATE deliveries SET available_at = ?", laterAt);
    });
    const shared = env as unknown as Record<string, unknown>;
    const real = shared.ALERTS;
    let raised!: (kind: string) => void;
    const raising = new Promise<string>((resolve) => (raised = resolve));
    let answer!: (result: string) => void;
    const answered = new Promise<string>((resolve) => (answer = resolve));
    // An outbox that takes the alert and answers only when the test says so.
    shared.ALERTS = { getByName: () => ({ raise: (alert: { kind: string }) => (raised(alert.kind), answered) }) };
    try {
      expect((await callWorker(await callbackRequest(app, textMessage("dies")), environment)).status).toBe(200);
      // The queue's alarm pushes it (workerd runs it: it is due now), it dies, and the alert is on its way.
      expect(await raising).toBe("dead_letter");
      // Without the fix, the alarm would still be the one set for the batch (60 s + 1 s away).
      expect(await runInDurableObject(queueStub(app), (_, state) => state.storage.getAlarm())).toBe(laterAt);
      // And the next alarm runs while the outbox has not answered: the later event, due now, is pushed.
      await runInDurableObject(queueStub(app), async (_, state) => {
        state.storage.sql.exec("UPDATE deliveries SET available_at = 0 WHERE seq = (SELECT seq FROM events WHERE id = 'later-0')");
        await state.storage.setAlarm(Date.now());
      });
      for (let i = 0; i < 2_000 && (await received(`${app}-target`)).length < 2; i++) await scheduler.wait(10);
      expect((await received(`${app}-target`)).length).toBe(2);
    } finally {
      answer("queued");
      shared.ALERTS = real;
    }
  });

  it("oldest_event: from the Cron Trigger, when a queue's oldest live event is older than oldestEvent.minutes", async () => {
    const app = newBucket("stale");
    useAlerts(alertsConfig(app, { alerts: { oldestEvent: { minutes: 30 } } }));
    const environment = testEnv({ apps: { [app]: { ...TEST_APP, pull: { token: PULL_TOKEN } } } });
    expect((await callWorker(await callbackRequest(app, textMessage(PLAINTEXT)), environment)).status).toBe(200);
    await scheduled(environment);
    await drainOutbox();
    expect(await received(app)).toEqual([]);
    await runInDurableObject(queueStub(app), (_, state) => {
      state.storage.sql.exec("UPDATE events SET received_at = ?", Date.now() - 31 * 60_000);
    });
    await scheduled(environment);
    const { markdown, alert } = await theAlert(app);
    expect(alert).toMatchObject({
      kind: "oldest_event",
      app,
      summary: `the oldest undelivered event of app "${app}" is 31 minutes old (threshold 30); 1 waiting`,
      hint: `No consumer has taken it: check that the consumers are pulling and acking (GET /admin/apps/${app} shows the queue)`,
      details: { mode: "pull", thresholdMinutes: 30, depth: 1, paused: false },
    });
    expect(alert.details.ageSeconds).toBeGreaterThanOrEqual(1860);
    expect(alert.details.ageSeconds).toBeLessThan(1920);
    expect(markdown.split("\n")[0]).toBe(`**wecom-edge: events waiting too long** · app \`${app}\``);
  });

  it("suite_ticket_stale: from the Cron Trigger, when a suite's newest ticket, or the watch with none, is older than 30 minutes", async () => {
    const app = newBucket("suite");
    const suite = { suiteId: "wwsuite7d1e9a2c0b4f", providerCorpId: "wwprovider3e40cde07", ticketToken: "suite-ticket-token-for-tests-0123456789" };
    useAlerts(alertsConfig(app));
    const environment = testEnv({
      apps: { [app]: { token: TEST_APP.token, encodingAESKey: TEST_APP.encodingAESKey, suite, webhook: { url: `${receiverUrl()}/ok/${app}-events`, secret: WEBHOOK_SECRET } } },
    });
    // The first watch starts the count: nothing yet.
    await scheduled(environment);
    await drainOutbox();
    expect(await received(app)).toEqual([]);
    const rewind = (column: "since" | "received_at", ms: number) =>
      runInDurableObject(queueStub(app), (_, state) => {
        state.storage.sql.exec(`UPDATE suite_tickets SET ${column} = ?`, Date.now() - ms);
      });
    await rewind("since", 31 * 60_000);
    await scheduled(environment);
    const never = await theAlert(app);
    expect(never.alert).toMatchObject({
      kind: "suite_ticket_stale",
      app,
      summary: `no suite_ticket has arrived for suite "${app}" in the 31 minutes the gateway has watched for one`,
      hint: `WeCom pushes one every 10 minutes to the instruction URL (/callback/${app}): check 指令回调URL in the provider console and GET /admin/apps/${app}/refusals; a ticket can be pushed again by hand there`,
      details: { suiteId: suite.suiteId, never: true },
    });
    expect(never.markdown.split("\n")[0]).toBe(`**wecom-edge: suite_ticket stale** · app \`${app}\``);

    // A ticket arrives: no alert; 40 minutes later, one naming its age.
    const ticket = `<xml><SuiteId><![CDATA[${suite.suiteId}]]></SuiteId><InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>1765001000</TimeStamp><SuiteTicket><![CDATA[t-1]]></SuiteTicket></xml>`;
    expect((await callWorker(await callbackRequest(app, ticket, { receiveId: suite.suiteId }), environment)).status).toBe(200);
    // Past the rate limit, so that an alert now would be sent.
    await rewindRateLimits(31 * 60_000);
    await scheduled(environment);
    await drainOutbox();
    expect(await webhookAlerts(app)).toHaveLength(1);
    await rewind("received_at", 40 * 60_000);
    await rewindRateLimits(31 * 60_000);
    await scheduled(environment);
    await drainOutbox();
    const alerts = await webhookAlerts(app);
    expect(alerts).toHaveLength(2);
    expect(alerts[1]).toMatchObject({
      kind: "suite_ticket_stale",
      summary: `the newest suite_ticket of suite "${app}" is 40 minutes old: WeCom's tickets are valid for 30`,
      details: { suiteId: suite.suiteId, never: false },
    });
  });

  it("oldest_event: asking a queue reads one row, whatever its backlog", async () => {
    const app = newBucket("deep");
    await fillQueue(app, 2_000);
    const { rows, result: backlog } = await rowsRead(app, (queue) => queue.backlog());
    // The destination's oldest delivery by index, and its event.
    expect(rows).toBe(2);
    expect(backlog.map((b) => [b.destination, b.depth, b.paused])).toEqual([["default", 2_000, false]]);
  });

  it("invalid_config: from the Cron Trigger, an app that is misconfigured, by path and never by value", async () => {
    const app = newBucket("broken");
    useAlerts(alertsConfig(app));
    const environment = testEnv({
      apps: { [app]: { ...TEST_APP, encodingAESKey: "tooShort-SECRETVALUE", webhook: { url: "https://x.example", secret: WEBHOOK_SECRET } } },
    });
    await scheduled(environment);
    const { markdown, alert } = await theAlert(app);
    expect(alert).toMatchObject({
      kind: "invalid_config",
      app,
      summary: `app "${app}" is misconfigured: WECOM_APPS.${app}.encodingAESKey must be the 43-character EncodingAESKey from the WeCom admin console`,
      hint: "Its callbacks answer 503 invalid_config until it is fixed: correct its entry (wecom-edge.config.json or WECOM_APPS) or set the secret it names, run `npm run check-config`, then deploy; GET /admin/apps lists what is wrong",
      details: { problem: `WECOM_APPS.${app}.encodingAESKey must be the 43-character EncodingAESKey from the WeCom admin console` },
    });
    expect(markdown).not.toContain("SECRETVALUE");
  });

  it("invalid_config: WECOM_APPS that cannot be loaded is app *", async () => {
    const bucket = newBucket("unloadable");
    useAlerts(alertsConfig(bucket));
    await scheduled(testEnv({ apps: '{"hr": ' }));
    const { markdown, alert } = await theAlert(bucket);
    expect(alert).toMatchObject({
      kind: "invalid_config",
      app: "*",
      summary: "the configuration cannot be used: WECOM_APPS is not valid JSON",
      hint: "Every callback answers 503 until it is fixed: correct wecom-edge.config.json or WECOM_APPS, run `npm run check-config`, then deploy",
    });
    expect(markdown.split("\n")[0]).toBe("**wecom-edge: invalid configuration** · app `*`");
  });

  it("makes no call to the outbox at all when WECOM_ALERTS is unset", async () => {
    const shared = env as unknown as Record<string, unknown>;
    const real = shared.ALERTS;
    let calls = 0;
    shared.ALERTS = {
      getByName: () => {
        calls++;
        return { raise: async () => "queued" };
      },
    };
    const run = async () => {
      const [dead, gone, probed] = [newBucket("dead"), newBucket("gone"), newBucket("probed")];
      const environment = testEnv({
        apps: {
          [dead]: webhookApp(`status/500/${dead}`, {}, { maxAttempts: 1 }),
          [gone]: webhookApp(`status/410/${gone}`),
          [probed]: webhookApp(`ok/${probed}`),
          broken: { ...TEST_APP, encodingAESKey: "short" },
        },
      });
      await callWorker(await callbackRequest(dead, textMessage("a")), environment);
      await callWorker(await callbackRequest(gone, textMessage("b")), environment);
      for (let i = 0; i < 12; i++) await callWorker(await callbackRequest(probed, textMessage(`c${i}`), { token: "wrongToken" }), environment);
      await drain(dead);
      await drain(gone);
      await scheduled(environment);
    };
    try {
      await run();
      expect(calls).toBe(0);
      // The same with alerts on reaches the (stand-in) outbox: the count above means something.
      useAlerts(alertsConfig(newBucket("control")));
      await run();
      expect(calls).toBeGreaterThanOrEqual(4);
    } finally {
      shared.ALERTS = real;
    }
  });

  it("never holds up a callback: callbacks are answered, and their work done, while an alert's send hangs", async () => {
    const bucket = newBucket("hang");
    useAlerts({ wecomRobot: { url: `${receiverUrl()}/hold/${bucket}?key=${ROBOT_KEY}` }, alerts: { refusalBurst: { count: 1, minutes: 5 } } });
    const app = newBucket("busy");
    const environment = testEnv({ apps: { [app]: webhookApp(`ok/${app}-target`) } });
    for (let i = 0; i < 2; i++) await callWorker(await callbackRequest(app, textMessage(`x${i}`), { token: "wrongToken" }), environment);
    // The outbox sends it now (workerd may have begun already), and the robot holds the answer.
    const alarm = runDurableObjectAlarm(outbox());
    for (let i = 0; i < 1_000 && (await received(bucket)).length === 0; i++) await scheduler.wait(10);
    expect((await received(bucket)).length).toBe(1);

    const refused = await callWorker(await callbackRequest(app, textMessage("y"), { token: "wrongToken" }), environment);
    const accepted = await callWorker(await callbackRequest(app, textMessage("z")), environment);
    expect([refused.status, accepted.status, await accepted.text()]).toEqual([401, 200, "success"]);
    expect((await received(bucket)).length).toBe(1); // still held

    await fetch(`${receiverUrl()}/hold/${bucket}/release`, { method: "PUT" });
    await alarm;
    await drainOutbox();
    expect(await outboxRows()).toEqual([]);
  });

  it("a broken WECOM_ALERTS leaves callbacks working, and is named in the admin API and counted in /healthz", async () => {
    const app = newBucket("calm");
    useAlerts({ webhook: { url: `${receiverUrl()}/ok/${app}-hook`, secret: "not-a-SECRET" } });
    const warn = vi.spyOn(console, "warn");
    const environment = testEnv({ apps: { [app]: webhookApp(`status/500/${app}-target`, {}, { maxAttempts: 1 }) } });
    expect((await callWorker(await callbackRequest(app, textMessage("hello")), environment)).status).toBe(200);
    await drain(app);
    expect((await queueRows(app)).map((row) => row.state)).toEqual(["dead"]);
    expect(await outboxRows()).toEqual([]);

    const list = await callWorker(new Request("https://wecom-edge.test/admin/apps", { headers: { authorization: `Bearer ${ADMIN}` } }), environment);
    const body = (await list.json()) as { alertsError?: string };
    expect(body.alertsError).toBe("WECOM_ALERTS.webhook.secret must be a Standard Webhooks secret: whsec_ followed by base64");
    const health = await callWorker(new Request("https://wecom-edge.test/healthz"), environment);
    expect([health.status, await health.json()]).toEqual([200, { ok: true, apps: 1, invalidApps: 0, invalidAlerts: 1 }]);

    const lines = warn.mock.calls.map((call) => String(call[0])).filter((line) => line.includes('"route":"alerts"'));
    warn.mockRestore();
    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual([
      {
        msg: "wecom-edge",
        route: "alerts",
        outcome: "invalid_config",
        detail: "WECOM_ALERTS.webhook.secret must be a Standard Webhooks secret: whsec_ followed by base64",
      },
    ]);
    expect(lines.join("\n")).not.toContain("not-a-SECRET");

    // Counted even while WECOM_APPS itself cannot be loaded.
    const unloadable = await callWorker(new Request("https://wecom-edge.test/healthz"), testEnv({ apps: '{"hr": ' }));
    expect([unloadable.status, await unloadable.json()]).toEqual([
      503,
      { ok: false, error: { code: "invalid_config", message: "WECOM_APPS is not valid JSON" }, invalidAlerts: 1 },
    ]);

    useAlerts(alertsConfig(app));
    const fixed = await callWorker(new Request("https://wecom-edge.test/healthz"), testEnv({ apps: { [app]: webhookApp(`ok/${app}-target`) } }));
    expect(await fixed.json()).toEqual({ ok: true, apps: 1, invalidApps: 0, invalidAlerts: 0 });
    useAlerts(undefined);
    const unsetEnv = testEnv({ apps: { [app]: webhookApp(`ok/${app}-target`) } });
    expect(await (await callWorker(new Request("https://wecom-edge.test/healthz"), unsetEnv)).json()).toEqual({ ok: true, apps: 1, invalidApps: 0 });
    const unset = await callWorker(new Request("https://wecom-edge.test/admin/apps", { headers: { authorization: `Bearer ${ADMIN}` } }), unsetEnv);
    expect("alertsError" in ((await unset.json()) as object)).toBe(false);
  });

  it("no alert carries a secret or a plaintext: the robot's key, the signing secrets, the Token, the EncodingAESKey, the pull token", async () => {
    const bucket = newBucket("secrets");
    useAlerts(alertsConfig(bucket, { alerts: { refusalBurst: { count: 1, minutes: 5 } } }));
    const [pushed, pulled] = [newBucket("pushed"), newBucket("pulled")];
    const environment = testEnv({
      apps: {
        [pushed]: webhookApp(`status/500/${pushed}-target`, {}, { maxAttempts: 1 }),
        [pulled]: { ...TEST_APP, pull: { token: PULL_TOKEN, maxAttempts: 1 } },
      },
    });
    await callWorker(await callbackRequest(pushed, textMessage(PLAINTEXT)), environment);
    await callWorker(await callbackRequest(pulled, textMessage(PLAINTEXT)), environment);
    for (let i = 0; i < 2; i++) await callWorker(await callbackRequest(pulled, textMessage(PLAINTEXT), { token: "wrongToken" }), environment);
    await drain(pushed);
    await pull(pulled, environment);
    await makeDue(pulled);
    await pull(pulled, environment);
    await drainOutbox();
    expect((await webhookAlerts(bucket)).map((alert) => `${alert.kind} ${alert.app}`).sort()).toEqual(
      [`dead_letter ${pulled}`, `dead_letter ${pushed}`, `refusal_burst ${pulled}`].sort(),
    );
    expect((await robotMessages(bucket)).length).toBe(3);
    await expectNoSecrets(bucket);
  });
});
