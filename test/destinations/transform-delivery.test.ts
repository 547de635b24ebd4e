/**
 * Transforms at delivery, through the Worker's own fetch and real HTTP
 * receivers (docs/routing.md, "Transformations"): a push carries the
 * transform's result, signed, under the event's id; a transform that fails
 * on an event makes a dead letter of that destination alone; a pull item is
 * the result, with the id beside it in `ids`.
 */
import { describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
import {
  adminApi,
  callbackRequest,
  callWorker,
  destinationsApp,
  drain,
  expectedEventId,
  heldRows,
  hookTo,
  newBucket,
  received,
  TEST_APP,
  testEnv,
  textMessage,
  WEBHOOK_SECRET,
  xmlCallback,
  type AppSettings,
} from "../support/wecom.js";

const BOT_TOKEN = "bot-pull-token-0123456789-abcdefgh";
const NUMBERS_TOKEN = "numbers-pull-token-0123456789-abcd";

const CREATE_USER = xmlCallback(
  "<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1732788000</CreateTime><MsgType><![CDATA[event]]></MsgType>" +
    "<Event><![CDATA[change_contact]]></Event><ChangeType><![CDATA[create_user]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID>" +
    "<Name><![CDATA[张三]]></Name><Department><![CDATA[1,2]]></Department>",
);

/** JSONata's D3030 (a value that is no number, given to $number) at the `(` of `$number(` in these expressions. */
const NUMBER_OF_USER = '{"n": $number(event.UserID)}';
const NUMBER_OF_CONTENT = '{"n": $number(event.Content)}';

function contactApp(app: string, broken: string): AppSettings {
  const contact = { Event: "change_contact" };
  return destinationsApp({
    directory: { match: contact, transform: '{"user": event.UserID, "kind": event.ChangeType}', webhook: hookTo(`ok/${app}-directory`) },
    broken: { match: contact, transform: broken, webhook: hookTo(`ok/${app}-broken`) },
    scalar: { match: contact, transform: "event.UserID", webhook: hookTo(`ok/${app}-scalar`) },
    empty: { match: contact, transform: "event.Nope", webhook: hookTo(`ok/${app}-empty`) },
    audit: { webhook: hookTo(`ok/${app}-audit`) },
  });
}

describe("transforms at delivery", () => {
  it("pushes the transform's result, signed, under the event's id; a failing transform dead-letters that destination alone", async () => {
    const app = newBucket("xform");
    const environment = testEnv({ apps: { [app]: contactApp(app, NUMBER_OF_USER) } });
    const admin = adminApi(environment);
    const response = await callWorker(await callbackRequest(app, CREATE_USER), environment);
    expect([await response.text(), response.headers.get("wecom-edge-routed")]).toEqual(["success", "directory,broken,scalar,empty,audit"]);
    const id = await expectedEventId(app, CREATE_USER);
    await drain(app);

    const [directory] = (await received(`${app}-directory`)) as [Awaited<ReturnType<typeof received>>[number]];
    expect((await received(`${app}-directory`)).length).toBe(1);
    expect(directory.body).toBe('{"user":"zhangsan","kind":"create_user"}');
    expect(directory.headers["webhook-id"]).toBe(id);
    expect(directory.headers["content-type"]).toBe("application/json");
    // Signed as any push: verified with the Standard Webhooks library, over the transformed body.
    expect(new Webhook(WEBHOOK_SECRET).verify(directory.body, directory.headers)).toEqual({ user: "zhangsan", kind: "create_user" });
    expect(() => new Webhook(WEBHOOK_SECRET).verify(directory.body.replace("zhangsan", "lisi"), directory.headers)).toThrow();

    // The destination without a transform gets the event JSON, whatever the others made of it.
    const audit = await received(`${app}-audit`);
    expect(audit.map((r) => r.headers["webhook-id"])).toEqual([id]);
    const event = JSON.parse(audit[0]!.body) as { id: string; app: string; receiveId: string; event: Record<string, string> };
    expect([event.id, event.app, event.receiveId, event.event.UserID, event.event.ChangeType]).toEqual([id, app, TEST_APP.receiveId, "zhangsan", "create_user"]);
    expect(new Webhook(WEBHOOK_SECRET).verify(audit[0]!.body, audit[0]!.headers)).toEqual(event);

    // Nothing reached the destinations whose transform failed: each holds a dead letter, with the reason.
    expect(await received(`${app}-broken`)).toEqual([]);
    expect(await received(`${app}-scalar`)).toEqual([]);
    expect(await received(`${app}-empty`)).toEqual([]);
    expect(await heldRows(app)).toEqual({ events: [id], deliveries: { broken: { dead: 1 }, empty: { dead: 1 }, scalar: { dead: 1 } } });
    const deadAt = async (name: string) => (await admin("GET", `/${app}/destinations/${name}/dead`)).body.events as Record<string, unknown>[];
    const letter = (destination: string, lastError: string) => ({
      id,
      destination,
      receivedAt: expect.stringMatching(/Z$/),
      attempts: 0,
      lastError,
      event: JSON.parse(audit[0]!.body),
    });
    expect(await deadAt("broken")).toEqual([letter("broken", "transform failed: D3030 at position 14")]);
    expect(await deadAt("scalar")).toEqual([letter("scalar", "transform returned a string, not an object")]);
    expect(await deadAt("empty")).toEqual([letter("empty", "transform returned nothing, not an object")]);
    expect(await deadAt("directory")).toEqual([]);
    expect(await deadAt("audit")).toEqual([]);

    const stats = (await admin("GET", `/${app}`)).body.destinations as { name: string; depth: number; delivered: number; dead: number; lastError: { message: string } | null }[];
    // A transform's failure is no failed attempt, but it shows as the destination's last error.
    expect(stats.map((d) => [d.name, d.depth, d.delivered, d.dead, d.lastError?.message ?? null])).toEqual([
      ["directory", 0, 1, 0, null],
      ["broken", 0, 0, 1, "transform failed: D3030 at position 14"],
      ["scalar", 0, 0, 1, "transform returned a string, not an object"],
      ["empty", 0, 0, 1, "transform returned nothing, not an object"],
      ["audit", 0, 1, 0, null],
    ]);

    // Fixed and replayed, the dead letter is transformed again, with the transform of the moment.
    const fixed = testEnv({ apps: { [app]: contactApp(app, '{"n": event.UserID}') } });
    expect(await adminApi(fixed)("POST", `/${app}/destinations/broken/replay`, { all: true })).toEqual({ status: 200, body: { replayed: 1 } });
    await drain(app);
    const replayed = await received(`${app}-broken`);
    expect(replayed.map((r) => [r.headers["webhook-id"], r.body])).toEqual([[id, '{"n":"zhangsan"}']]);
    expect(new Webhook(WEBHOOK_SECRET).verify(replayed[0]!.body, replayed[0]!.headers)).toEqual({ n: "zhangsan" });
    // The event stays while the other two dead letters hold it, and leaves with the last.
    expect(await heldRows(app)).toEqual({ events: [id], deliveries: { empty: { dead: 1 }, scalar: { dead: 1 } } });
    expect(await adminApi(fixed)("POST", `/${app}/destinations/scalar/purge`, { all: true })).toEqual({ status: 200, body: { purged: 1 } });
    expect(await adminApi(fixed)("POST", `/${app}/destinations/empty/purge`, { ids: [id] })).toEqual({ status: 200, body: { purged: 1 } });
    expect(await heldRows(app)).toEqual({ events: [], deliveries: {} });
  });

  it("answers a pull with the transform's results and their ids beside them; an item whose transform fails dies and the batch is refilled", async () => {
    const app = newBucket("xpull");
    const environment = testEnv({
      apps: {
        [app]: destinationsApp({
          bot: { match: { MsgType: "text" }, transform: '{"text": event.Content, "from": event.FromUserName}', pull: { token: BOT_TOKEN } },
          numbers: { match: { MsgType: "text" }, transform: NUMBER_OF_CONTENT, pull: { token: NUMBERS_TOKEN } },
        }),
      },
    });
    const messages = [textMessage("12", "8500000000000000001"), textMessage("abc", "8500000000000000002"), textMessage("34", "8500000000000000003")];
    const ids: string[] = [];
    for (const message of messages) {
      expect(await (await callWorker(await callbackRequest(app, message), environment)).text()).toBe("success");
      ids.push(await expectedEventId(app, message));
    }
    const [twelve, abc, thirtyFour] = ids as [string, string, string];
    const pull = async (destination: string, token: string, max: number) => {
      const response = await callWorker(
        new Request(`https://wecom-edge.test/queue/${app}/${destination}/pull`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}` },
          body: JSON.stringify({ max }),
        }),
        environment,
      );
      expect(response.status).toBe(200);
      const text = await response.text();
      return { text, lease: (JSON.parse(text) as { lease: string }).lease };
    };

    const bot = await pull("bot", BOT_TOKEN, 10);
    expect(bot.text).toBe(
      `{"events":[{"text":"12","from":"zhangsan"},{"text":"abc","from":"zhangsan"},{"text":"34","from":"zhangsan"}],` +
        `"ids":["${twelve}","${abc}","${thirtyFour}"],"lease":"${bot.lease}","attempts":{"${twelve}":1,"${abc}":1,"${thirtyFour}":1}}`,
    );

    // max 2: "abc" dies on the way and the batch is refilled with "34".
    const numbers = await pull("numbers", NUMBERS_TOKEN, 2);
    expect(numbers.text).toBe(
      `{"events":[{"n":12},{"n":34}],"ids":["${twelve}","${thirtyFour}"],"lease":"${numbers.lease}","attempts":{"${twelve}":1,"${thirtyFour}":1}}`,
    );
    const dead = await adminApi(environment)("GET", `/${app}/dead`);
    expect(dead.body.events.map((e: Record<string, unknown>) => [e.id, e.destination, e.attempts, e.lastError])).toEqual([
      [abc, "numbers", 0, "transform failed: D3030 at position 14"],
    ]);
    // bot's delivery of "abc" is its own, leased and unharmed.
    expect(await heldRows(app)).toEqual({ events: ids, deliveries: { bot: { queued: 3 }, numbers: { dead: 1, queued: 2 } } });
  });
});
