/**
 * Pull destinations through the Worker's own fetch (docs/routing.md, "Pull
 * destinations"): /queue/{app}/{destination}/pull|ack|nack with that
 * destination's own token, /queue/{app}/pull for `default`, and deliveries
 * of one event that are each destination's own.
 */
import { describe, expect, it } from "vitest";
import {
  callWorker,
  destinationsApp,
  drain,
  errorOf,
  heldRows,
  hookTo,
  newBucket,
  received,
  sendCallbacks,
  TEST_APP,
  testEnv,
  textMessage,
  xmlCallback,
} from "../support/wecom.js";

const BOT_TOKEN = "bot-pull-token-0123456789-abcdefgh";
const ARCHIVE_TOKEN = "archive-pull-token-0123456789-abcd";
const LEGACY_TOKEN = "legacy-pull-token-0123456789-abcde";

const CLICK = xmlCallback(
  "<FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1732788240</CreateTime><MsgType><![CDATA[event]]></MsgType>" +
    "<Event><![CDATA[click]]></Event><EventKey><![CDATA[V1001_LEAVE_BALANCE]]></EventKey><AgentID>1000002</AgentID>",
);

interface PullAnswer {
  events: { id: string; event: Record<string, string> }[];
  ids: string[];
  lease: string | null;
  attempts: Record<string, number>;
}

const LEASE = /^[0-9a-z]{1,11}\.[0-9a-f]{24}$/;
const UNAUTHORIZED = { status: 401, code: "unauthorized", message: "a valid bearer token is required" };

function setup() {
  const app = newBucket("pulld");
  const legacy = `${app}-legacy`;
  const environment = testEnv({
    apps: {
      [app]: destinationsApp({
        bot: { match: { MsgType: "text" }, pull: { token: BOT_TOKEN } },
        hook: { match: { Event: "click" }, webhook: hookTo(`ok/${app}-hook`) },
        archive: { pull: { token: ARCHIVE_TOKEN } },
      }),
      [legacy]: { ...TEST_APP, pull: { token: LEGACY_TOKEN } },
    },
  });
  /** POST /queue/{target}/{path} with `token`. */
  const api = (target: string, path: string, body: unknown, token: string) =>
    callWorker(
      new Request(`https://wecom-edge.test/queue/${target}/${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      }),
      environment,
    );
  const ok = async (target: string, path: string, body: unknown, token: string) => {
    const response = await api(target, path, body, token);
    expect(response.status).toBe(200);
    return (await response.json()) as Record<string, any>;
  };
  return {
    app,
    legacy,
    api,
    pull: async (target: string, token: string, body: unknown = {}) => (await ok(target, "pull", body, token)) as PullAnswer,
    ack: (target: string, token: string, ids: string[], lease: string | null) => ok(target, "ack", { ids, lease: lease ?? undefined }, token),
    nack: (target: string, token: string, ids: string[], lease: string) => ok(target, "nack", { ids, lease, delaySeconds: 0 }, token),
    /** Sends callbacks to `target` as WeCom would; answers their event ids. */
    send: (target: string, ...plaintexts: string[]) => sendCallbacks(target, environment, plaintexts),
  };
}

describe("pull destinations", () => {
  it("leases, nacks and acks through /queue/{app}/{destination}/…, with ids beside the events", async () => {
    const { app, pull, ack, nack, send } = setup();
    const [first, second] = await send(app, textMessage("first", "8100000000000000001"), textMessage("second", "8100000000000000002"));

    const batch = await pull(`${app}/bot`, BOT_TOKEN, { max: 10, leaseSeconds: 60 });
    expect(batch.lease).toMatch(LEASE);
    expect(batch.ids).toEqual([first, second]);
    expect(batch.events.map((e) => [e.id, e.event.Content])).toEqual([
      [first, "first"],
      [second, "second"],
    ]);
    expect(batch.attempts).toEqual({ [first!]: 1, [second!]: 1 });
    // Leased, nothing more is due at bot.
    expect(await pull(`${app}/bot`, BOT_TOKEN)).toEqual({ events: [], ids: [], lease: null, attempts: {} });

    expect(await nack(`${app}/bot`, BOT_TOKEN, [second!], batch.lease!)).toEqual({ released: 1, notReleased: [] });
    expect(await ack(`${app}/bot`, BOT_TOKEN, [first!], batch.lease!)).toEqual({ acked: 1, notAcked: [] });
    const again = await pull(`${app}/bot`, BOT_TOKEN);
    expect([again.ids, again.attempts]).toEqual([[second], { [second!]: 2 }]);
    expect(await ack(`${app}/bot`, BOT_TOKEN, [second!], again.lease!)).toEqual({ acked: 1, notAcked: [] });
    expect(await ack(`${app}/bot`, BOT_TOKEN, [second!], again.lease!)).toEqual({ acked: 0, notAcked: [{ id: second, reason: "unknown" }] });
  });

  it("keeps an event for every pull destination that holds it: an ack or nack at one leaves the other's delivery as it was", async () => {
    const { app, pull, ack, nack, send } = setup();
    const [text, click] = await send(app, textMessage("both", "8200000000000000001"), CLICK);
    await drain(app);
    expect((await received(`${app}-hook`)).map((r) => r.headers["webhook-id"])).toEqual([click]);
    // The click went to hook and archive; hook has it, archive not yet.
    expect(await heldRows(app)).toEqual({ events: [text, click], deliveries: { archive: { queued: 2 }, bot: { queued: 1 } } });

    const bot = await pull(`${app}/bot`, BOT_TOKEN);
    expect(bot.ids).toEqual([text]);
    expect(await nack(`${app}/bot`, BOT_TOKEN, [text!], bot.lease!)).toEqual({ released: 1, notReleased: [] });
    const bot2 = await pull(`${app}/bot`, BOT_TOKEN);
    expect(bot2.attempts).toEqual({ [text!]: 2 });

    // archive's delivery of the same event was not leased by bot's pulls.
    const archive = await pull(`${app}/archive`, ARCHIVE_TOKEN);
    expect([archive.ids, archive.attempts]).toEqual([[text, click], { [text!]: 1, [click!]: 1 }]);
    // bot's lease holds nothing at archive, and archive's nothing at bot.
    expect(await ack(`${app}/archive`, ARCHIVE_TOKEN, [text!], bot2.lease!)).toEqual({ acked: 0, notAcked: [{ id: text, reason: "unknown" }] });
    expect(await nack(`${app}/bot`, BOT_TOKEN, [text!], archive.lease!)).toEqual({ released: 0, notReleased: [{ id: text, reason: "unknown" }] });

    expect(await ack(`${app}/bot`, BOT_TOKEN, [text!], bot2.lease!)).toEqual({ acked: 1, notAcked: [] });
    // Acked at bot, the text stays for archive.
    expect(await heldRows(app)).toEqual({ events: [text, click], deliveries: { archive: { queued: 2 } } });
    expect(await ack(`${app}/archive`, ARCHIVE_TOKEN, [click!], archive.lease!)).toEqual({ acked: 1, notAcked: [] });
    expect(await heldRows(app)).toEqual({ events: [text], deliveries: { archive: { queued: 1 } } });
    expect(await ack(`${app}/archive`, ARCHIVE_TOKEN, [text!], archive.lease!)).toEqual({ acked: 1, notAcked: [] });
    expect(await heldRows(app)).toEqual({ events: [], deliveries: {} });
  });

  it("opens a destination only with its own token: another's token, a push destination, an unknown one and a missing default get the same 401", async () => {
    const { app, legacy, api, pull, send } = setup();
    const [text] = await send(app, textMessage("guarded", "8300000000000000001"));
    const lease = "zzzzzzzzzz.0123456789abcdef01234567";
    const refused: [string, string][] = [
      [`${app}/bot`, ARCHIVE_TOKEN], // another destination's token
      [`${app}/archive`, BOT_TOKEN],
      [`${app}/bot`, LEGACY_TOKEN], // another app's token
      [`${app}/hook`, BOT_TOKEN], // a destination that pushes
      [`${app}/nope`, BOT_TOKEN], // no such destination
      [app, BOT_TOKEN], // no `default` in this app
      [app, ARCHIVE_TOKEN],
      [`${legacy}/bot`, BOT_TOKEN], // the legacy app has no bot
    ];
    for (const [target, token] of refused) {
      for (const [path, body] of [
        ["pull", {}],
        ["ack", { ids: [text], lease }],
        ["nack", { ids: [text], lease }],
      ] as const) {
        const response = await api(target, path, body, token);
        expect([target, path, response.headers.get("www-authenticate"), await errorOf(response)]).toEqual([target, path, "Bearer", UNAUTHORIZED]);
      }
    }
    // None of them leased anything.
    const batch = await pull(`${app}/bot`, BOT_TOKEN);
    expect([batch.ids, batch.attempts]).toEqual([[text], { [text!]: 1 }]);
  });

  it("serves an app's top-level pull at /queue/{app}/pull as before: its destination is default", async () => {
    const { legacy, pull, ack, nack, send } = setup();
    const [first, second] = await send(legacy, textMessage("one", "8400000000000000001"), textMessage("two", "8400000000000000002"));
    const batch = await pull(legacy, LEGACY_TOKEN, { max: 1 });
    expect(batch.lease).toMatch(LEASE);
    expect([batch.ids, batch.events.map((e) => e.id), batch.attempts]).toEqual([[first], [first], { [first!]: 1 }]);
    expect(await nack(legacy, LEGACY_TOKEN, [first!], batch.lease!)).toEqual({ released: 1, notReleased: [] });
    // The same queue under its destination's name; the released event fell due again after the other.
    const both = await pull(`${legacy}/default`, LEGACY_TOKEN, { max: 5 });
    expect([both.ids, both.attempts]).toEqual([
      [second, first],
      { [first!]: 2, [second!]: 1 },
    ]);
    expect(await ack(legacy, LEGACY_TOKEN, [first!, second!], both.lease!)).toEqual({ acked: 2, notAcked: [] });
    expect(await heldRows(legacy)).toEqual({ events: [], deliveries: {} });
  });
});
