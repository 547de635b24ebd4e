// What `simulate` sends: realistic callbacks in the formats WeCom documents
// (developer.work.weixin.qq.com: 90238/90240 messages and events, 90967 and
// 90970 contact changes, 91815 approvals, 92130 customer contacts, 90240
// template cards, 94670 微信客服, 90628 suite_ticket, 100719 and 101027 AI
// bots). Every call makes fresh values (MsgId, ids, tickets, CreateTime), so
// that a rerun is a new event and not a resend.
//
// Each item: { name, kind, summary, format, build(ctx) → { plaintext, toUserName?, agentId? } }
//   kind "verify"   the URL-verification GET
//   kind "callback" a POST
//   kind "resend"   the exact bytes of the first callback of the run again (the dedup)
//   kind "refresh"  an AI bot's stream refresh, for the stream the bot's text opened
// ctx: { corpId, agentId, aibotId, user, createTime (unix seconds, a number), streamId? }
import { randomBytes, randomInt } from 'node:crypto';

/** Who the simulated callbacks come from: your intranet can tell simulated events by it. */
export const SIMULATE_USER = 'wecom-edge-simulate';

/** A string element written bare (numbers, ids WeCom writes without CDATA). */
class Bare {
  constructor(value) {
    this.value = String(value);
  }
}
const bare = (value) => new Bare(value);

function element(name, value) {
  if (Array.isArray(value)) return value.map((v) => element(name, v)).join('');
  if (value instanceof Bare) return `<${name}>${value.value}</${name}>`;
  if (typeof value === 'number') return `<${name}>${value}</${name}>`;
  if (value !== null && typeof value === 'object') return `<${name}>${Object.entries(value).map(([k, v]) => element(k, v)).join('')}</${name}>`;
  return `<${name}><![CDATA[${value}]]></${name}>`;
}

/** WeCom's plaintext: the root <xml>, one top-level element per line as in WeCom's own samples. */
function xml(fields) {
  return `<xml>${Object.entries(fields).map(([k, v]) => element(k, v)).join('\n')}\n</xml>`;
}

const digits = (n) => String(randomInt(10 ** (n - 1), 10 ** n - 1));
/** A 19-digit MsgId (WeCom's are 64-bit; as a string, never a JS number). */
const msgId = () => `${randomInt(1, 9)}${digits(9)}${digits(9)}`;
const alnum = (n) => randomBytes(n).toString('base64').replace(/[^A-Za-z0-9]/g, '').padEnd(n, 'x').slice(0, n);
const tag = () => randomBytes(4).toString('hex');

/** An AI bot's id, as WeCom shows it in its callbacks: one per run. */
export const newAibotId = () => `aib${alnum(29)}`;

/** The header of a message or event sent to a self-built app. */
const head = (ctx, msgType, event) => ({
  ToUserName: ctx.corpId,
  FromUserName: ctx.user,
  CreateTime: ctx.createTime,
  MsgType: msgType,
  ...(event ? { Event: event } : {}),
});

const appMessage = (fields) => ({ plaintext: xml(fields) });

export const APP_CATALOGUE = [
  { name: 'verify', kind: 'verify', summary: 'URL verification (GET with echostr)' },
  {
    name: 'text',
    kind: 'callback',
    summary: 'a text message',
    build: (ctx) => appMessage({ ...head(ctx, 'text'), Content: `wecom-edge simulate: 你好 ${tag()}`, MsgId: bare(msgId()), AgentID: bare(ctx.agentId) }),
  },
  {
    name: 'image',
    kind: 'callback',
    summary: 'an image message',
    build: (ctx) =>
      appMessage({
        ...head(ctx, 'image'),
        PicUrl: `https://wework.qpic.cn/wwpic/${digits(6)}_${alnum(16)}/0`,
        MediaId: `3${alnum(63)}`,
        MsgId: bare(msgId()),
        AgentID: bare(ctx.agentId),
      }),
  },
  {
    name: 'voice',
    kind: 'callback',
    summary: 'a voice message',
    build: (ctx) => appMessage({ ...head(ctx, 'voice'), MediaId: `1${alnum(63)}`, Format: 'amr', MsgId: bare(msgId()), AgentID: bare(ctx.agentId) }),
  },
  {
    name: 'location',
    kind: 'callback',
    summary: 'a location message',
    build: (ctx) =>
      appMessage({
        ...head(ctx, 'location'),
        Location_X: bare(`23.13${digits(4)}`),
        Location_Y: bare(`113.35${digits(4)}`),
        Scale: bare(15),
        Label: '广东省广州市天河区体育西路',
        MsgId: bare(msgId()),
        AgentID: bare(ctx.agentId),
        AppType: 'wxwork',
      }),
  },
  {
    name: 'subscribe',
    kind: 'callback',
    summary: 'a member follows the app',
    build: (ctx) => appMessage({ ...head(ctx, 'event', 'subscribe'), AgentID: bare(ctx.agentId) }),
  },
  {
    name: 'enter_agent',
    kind: 'callback',
    summary: 'a member opens the app',
    build: (ctx) => appMessage({ ...head(ctx, 'event', 'enter_agent'), EventKey: '', AgentID: bare(ctx.agentId) }),
  },
  {
    name: 'click',
    kind: 'callback',
    summary: 'a menu click',
    build: (ctx) => appMessage({ ...head(ctx, 'event', 'click'), EventKey: SIMULATE_USER, AgentID: bare(ctx.agentId) }),
  },
  {
    name: 'view',
    kind: 'callback',
    summary: 'a menu link opened',
    build: (ctx) =>
      appMessage({ ...head(ctx, 'event', 'view'), EventKey: `https://work.weixin.qq.com/?from=${SIMULATE_USER}&run=${tag()}`, AgentID: bare(ctx.agentId) }),
  },
  {
    name: 'scancode_waitmsg',
    kind: 'callback',
    summary: 'a QR code scanned from the menu',
    build: (ctx) =>
      appMessage({
        ...head(ctx, 'event', 'scancode_waitmsg'),
        EventKey: SIMULATE_USER,
        ScanCodeInfo: { ScanType: 'qrcode', ScanResult: `https://example.com/qr/${tag()}` },
        AgentID: bare(ctx.agentId),
      }),
  },
  {
    name: 'create_user',
    kind: 'callback',
    summary: 'contacts: a member is added (change_contact)',
    build: (ctx) =>
      appMessage({
        ...head(ctx, 'event', 'change_contact'),
        ChangeType: 'create_user',
        UserID: `${SIMULATE_USER}-${tag()}`,
        Name: 'wecom-edge 模拟成员',
        Department: '1',
        MainDepartment: bare(1),
        IsLeaderInDept: '0',
        Position: '测试',
        Mobile: bare(`1380000${digits(4)}`),
        Gender: bare(1),
        Email: `${SIMULATE_USER}@example.com`,
        Status: bare(1),
        Alias: SIMULATE_USER,
        Telephone: '020-123456',
        ExtAttr: { Item: [{ Name: '爱好', Type: bare(0), Text: { Value: '旅游' } }] },
      }),
  },
  {
    name: 'update_user',
    kind: 'callback',
    summary: 'contacts: a member is changed (change_contact)',
    build: (ctx) =>
      appMessage({
        ...head(ctx, 'event', 'change_contact'),
        ChangeType: 'update_user',
        UserID: `${SIMULATE_USER}-${tag()}`,
        Name: 'wecom-edge 模拟成员',
        Department: '1,2',
        MainDepartment: bare(1),
        IsLeaderInDept: '0,1',
        Position: '经理',
        Status: bare(1),
      }),
  },
  {
    name: 'delete_party',
    kind: 'callback',
    summary: 'contacts: a department is deleted (change_contact)',
    build: (ctx) => appMessage({ ...head(ctx, 'event', 'change_contact'), ChangeType: 'delete_party', Id: bare(digits(6)) }),
  },
  {
    name: 'sys_approval_change',
    kind: 'callback',
    summary: 'approvals: an application changes state',
    build: (ctx) =>
      appMessage({
        ...head(ctx, 'event', 'sys_approval_change'),
        AgentID: bare(ctx.agentId),
        ApprovalInfo: {
          SpNo: bare(`${new Date(ctx.createTime * 1000).toISOString().slice(0, 10).replaceAll('-', '')}${digits(4)}`),
          SpName: '请假',
          SpStatus: bare(1),
          TemplateId: `3Tka${alnum(36)}`,
          ApplyTime: bare(ctx.createTime),
          Applyer: { UserId: ctx.user, Party: bare(1) },
          SpRecord: { SpStatus: bare(1), ApproverAttr: bare(1), Details: { Approver: { UserId: ctx.user }, Speech: '', SpStatus: bare(1), SpTime: bare(0) } },
          Notifyer: { UserId: ctx.user },
          StatuChangeEvent: bare(1),
        },
      }),
  },
  {
    name: 'add_external_contact',
    kind: 'callback',
    summary: 'customer contacts: an external contact is added',
    build: (ctx) =>
      appMessage({
        ...head(ctx, 'event', 'change_external_contact'),
        ChangeType: 'add_external_contact',
        UserID: ctx.user,
        ExternalUserID: `wm${alnum(28)}`,
        State: SIMULATE_USER,
        WelcomeCode: alnum(43),
      }),
  },
  {
    name: 'template_card_event',
    kind: 'callback',
    summary: 'a template card button clicked',
    build: (ctx) =>
      appMessage({
        ...head(ctx, 'event', 'template_card_event'),
        EventKey: 'approve',
        TaskId: `simulate-${tag()}`,
        CardType: 'button_interaction',
        ResponseCode: alnum(43),
        AgentID: bare(ctx.agentId),
        SelectedItems: { SelectedItem: { QuestionKey: 'choice', OptionIds: { OptionId: ['yes'] } } },
      }),
  },
  {
    name: 'kf_msg_or_event',
    kind: 'callback',
    summary: '微信客服: messages wait at sync_msg',
    build: (ctx) =>
      appMessage({
        ToUserName: ctx.corpId,
        CreateTime: ctx.createTime,
        MsgType: 'event',
        Event: 'kf_msg_or_event',
        Token: `ENC${alnum(44)}`,
        OpenKfId: `wk${alnum(28)}`,
      }),
  },
  {
    name: 'suite_ticket',
    kind: 'callback',
    summary: 'third-party suite: the suite_ticket (ten-minutely)',
    // A suite's instruction callbacks are encrypted for, and addressed to, the suite id: the app's receiveId.
    build: (ctx) => ({
      plaintext: xml({ SuiteId: ctx.corpId, InfoType: 'suite_ticket', TimeStamp: bare(ctx.createTime), SuiteTicket: alnum(64) }),
      agentId: '',
    }),
  },
  { name: 'resend', kind: 'resend', summary: "the first callback's bytes again: WeCom's retry, deduplicated" },
];

/** An AI bot's JSON callback fields common to its messages. */
const botHead = (ctx) => ({
  msgid: randomBytes(21).toString('base64'),
  aibotid: ctx.aibotId,
  chattype: 'single',
  from: { userid: ctx.user },
});

export const BOT_CATALOGUE = [
  { name: 'verify', kind: 'verify', summary: 'URL verification (GET with echostr)' },
  {
    name: 'text',
    kind: 'callback',
    summary: 'a text message: answered with a stream',
    build: (ctx) => ({
      plaintext: JSON.stringify({
        ...botHead(ctx),
        response_url: `https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=${alnum(64)}`,
        msgtype: 'text',
        text: { content: `wecom-edge simulate: 你好 ${tag()}` },
      }),
    }),
  },
  {
    name: 'stream',
    kind: 'refresh',
    summary: "WeCom's refresh of the text's stream",
    build: (ctx) => ({ plaintext: JSON.stringify({ ...botHead(ctx), msgtype: 'stream', stream: { id: ctx.streamId } }) }),
  },
  {
    name: 'enter_chat',
    kind: 'callback',
    summary: 'a member opens the chat: the welcome, if any',
    build: (ctx) => {
      const { msgid, aibotid, from } = botHead(ctx);
      return { plaintext: JSON.stringify({ msgid, create_time: ctx.createTime, aibotid, from, msgtype: 'event', event: { eventtype: 'enter_chat' } }) };
    },
  },
  { name: 'resend', kind: 'resend', summary: "the text's bytes again: WeCom's retry, deduplicated (the same stream)" },
];
