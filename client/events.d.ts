// wecom-edge/events: TypeScript types of the event JSON the gateway hands to the
// intranet (docs/events.md), a union over WeCom's catalogue, with type guards.
// Written by scripts/gen-events.mjs from src/wecom/catalogue.json (`npm run events`):
// edit the catalogue, not this file.
// The gateway's shaping rules hold: in an XML callback every leaf is a string
// (MsgId keeps its digits, 007 stays 007) and the list elements (item,
// SelectedItem, OptionId, SpRecord, Details, Notifyer, Comments, ApprovalNode,
// Item, NotifyNode) are always arrays; a JSON callback (an AI bot's) keeps
// WeCom's own JSON.

/** Every leaf of an XML callback. */
type S = string;

/** What every message and event sent to an app carries. */
interface AppHead { ToUserName: S; FromUserName: S; CreateTime: S; AgentID?: S }

// ---- messages, by MsgType ----

export interface TextMessage extends AppHead { MsgType: "text"; Content: S; MsgId: S }
export interface ImageMessage extends AppHead { MsgType: "image"; PicUrl: S; MediaId: S; MsgId: S }
export interface VoiceMessage extends AppHead { MsgType: "voice"; MediaId: S; Format: S; MsgId: S }
export interface VideoMessage extends AppHead { MsgType: "video"; MediaId: S; ThumbMediaId: S; MsgId: S }
export interface LocationMessage extends AppHead { MsgType: "location"; Location_X: S; Location_Y: S; Scale: S; Label: S; MsgId: S; AppType?: S }
export interface LinkMessage extends AppHead { MsgType: "link"; Title: S; Description: S; Url: S; PicUrl: S; MsgId: S }

export type Message = TextMessage | ImageMessage | VoiceMessage | VideoMessage | LocationMessage | LinkMessage;
export type MessageType = Message["MsgType"];

// ---- app events, by Event ----

interface EventHead<E extends string> extends AppHead { MsgType: "event"; Event: E; EventKey?: S }

interface ContactHead<C extends string> extends EventHead<"change_contact"> { ChangeType: C }
interface UserFields {
  Name?: S;
  Department?: S;
  MainDepartment?: S;
  IsLeaderInDept?: S;
  DirectLeader?: S;
  Position?: S;
  Mobile?: S;
  Gender?: S;
  Email?: S;
  BizMail?: S;
  Status?: S;
  Avatar?: S;
  Alias?: S;
  Telephone?: S;
  Address?: S;
  ExtAttr?: { Item: { Name: S; Type: S; Text?: { Value: S }; Web?: { Title: S; Url: S } }[] };
}

export type LifecycleEvent = EventHead<"subscribe" | "unsubscribe" | "enter_agent">;
export interface LocationEvent extends EventHead<"LOCATION"> { Latitude: S; Longitude: S; Precision: S; AppType?: S }
export type MenuEvent = EventHead<"click" | "view" | "view_miniprogram">;
export interface ScanCodeEvent extends EventHead<"scancode_push" | "scancode_waitmsg"> { ScanCodeInfo: { ScanType: S; ScanResult: S } }
export interface PicEvent extends EventHead<"pic_sysphoto" | "pic_photo_or_album" | "pic_weixin"> { SendPicsInfo: { Count: S; PicList: { item: { PicMd5Sum: S }[] } | "" } }
export interface LocationSelectEvent extends EventHead<"location_select"> { SendLocationInfo: { Location_X: S; Location_Y: S; Scale: S; Label: S; Poiname: S } }
export interface TemplateCardEvent extends EventHead<"template_card_event"> {
  TaskId: S;
  CardType: S;
  ResponseCode: S;
  SelectedItems?: { SelectedItem: { QuestionKey: S; OptionIds: { OptionId: S[] } }[] };
}
export interface TemplateCardMenuEvent extends EventHead<"template_card_menu_event"> { TaskId: S; CardType: S; ResponseCode: S }
export interface TaskCardClickEvent extends EventHead<"taskcard_click"> { TaskId: S }
export type AppHealthEvent = EventHead<"inactive_alert" | "close_inactive_agent" | "reopen_inactive_agent" | "low_active_alert" | "low_active" | "active_restored">;
export interface BatchJobResultEvent extends EventHead<"batch_job_result"> { BatchJob: { JobId: S; JobType: S; ErrCode: S; ErrMsg: S } }
/** sys_approval_change: an approval of WeCom's own approval app changed state. */
export interface SysApprovalChangeEvent extends EventHead<"sys_approval_change"> {
  ApprovalInfo: {
    SpNo: S;
    SpName: S;
    SpStatus: S;
    TemplateId: S;
    ApplyTime: S;
    Applyer: { UserId: S; Party: S };
    SpRecord: { SpStatus: S; ApproverAttr: S; Details: { Approver: { UserId: S }; Speech: S; SpStatus: S; SpTime: S; MediaId?: S[] | S }[] }[];
    Notifyer?: { UserId: S }[];
    Comments?: { CommentUserInfo: { UserId: S }; CommentTime: S; CommentContent: S; CommentId: S }[];
    StatuChangeEvent: S;
  };
}
/** open_approval_change: an approval of a third-party approval flow. */
export interface OpenApprovalChangeEvent extends EventHead<"open_approval_change"> {
  ApprovalInfo: {
    ThirdNo: S;
    OpenSpName: S;
    OpenTemplateId: S;
    OpenSpStatus: S;
    ApplyTime: S;
    ApplyUserName: S;
    ApplyUserId: S;
    ApplyUserParty: S;
    ApplyUserImage: S;
    ApprovalNodes: { ApprovalNode: { NodeStatus: S; NodeAttr: S; NodeType: S; Items: { Item: Record<string, S>[] } }[] };
    NotifyNodes?: { NotifyNode: Record<string, S>[] };
    approverstep: S;
  };
}
export interface CreateUserEvent extends ContactHead<"create_user">, UserFields { UserID: S }
export interface UpdateUserEvent extends ContactHead<"update_user">, UserFields { UserID: S; NewUserID?: S }
export interface DeleteUserEvent extends ContactHead<"delete_user"> { UserID: S }
export interface CreatePartyEvent extends ContactHead<"create_party"> { Id: S; Name: S; ParentId: S; Order?: S }
export interface UpdatePartyEvent extends ContactHead<"update_party"> { Id: S; Name?: S; ParentId?: S }
export interface DeletePartyEvent extends ContactHead<"delete_party"> { Id: S }
export interface UpdateTagEvent extends ContactHead<"update_tag"> { TagId: S; AddUserItems?: S; DelUserItems?: S; AddPartyItems?: S; DelPartyItems?: S }
export interface ExternalContactEvent extends EventHead<"change_external_contact"> {
  ChangeType: "add_external_contact" | "edit_external_contact" | "add_half_external_contact" | "del_external_contact" | "del_follow_user" | "transfer_fail";
  UserID: S;
  ExternalUserID: S;
  State?: S;
  WelcomeCode?: S;
  Source?: S;
  FailReason?: S;
}
export interface ExternalChatEvent extends EventHead<"change_external_chat"> {
  ChangeType: "create" | "update" | "dismiss";
  ChatId: S;
  UpdateDetail?: "add_member" | "del_member" | "change_owner" | "change_name" | "change_notice";
  JoinScene?: S;
  QuitScene?: S;
  MemChangeCnt?: S;
  MemChangeList?: { Item: S[] };
  LastMemVer?: S;
  CurMemVer?: S;
}
export interface ExternalTagEvent extends EventHead<"change_external_tag"> { ChangeType: "create" | "update" | "delete" | "shuffle"; Id?: S; TagType?: S; StrategyId?: S }
/** kf_msg_or_event: messages wait at sync_msg, with this Token (valid 10 minutes). It comes from no member. */
export interface KfMsgOrEvent extends Omit<EventHead<"kf_msg_or_event">, "FromUserName"> { Token: S; OpenKfId: S }
export interface KfAccountAuthChangeEvent extends EventHead<"kf_account_auth_change"> { AuthAddOpenKfId?: S; AuthDelOpenKfId?: S }
export type ContactEvent =
  | CreateUserEvent
  | UpdateUserEvent
  | DeleteUserEvent
  | CreatePartyEvent
  | UpdatePartyEvent
  | DeletePartyEvent
  | UpdateTagEvent;

export type AppEvent =
  | LifecycleEvent
  | LocationEvent
  | MenuEvent
  | ScanCodeEvent
  | PicEvent
  | LocationSelectEvent
  | TemplateCardEvent
  | TemplateCardMenuEvent
  | TaskCardClickEvent
  | AppHealthEvent
  | BatchJobResultEvent
  | SysApprovalChangeEvent
  | OpenApprovalChangeEvent
  | ContactEvent
  | ExternalContactEvent
  | ExternalChatEvent
  | ExternalTagEvent
  | KfMsgOrEvent
  | KfAccountAuthChangeEvent;
export type EventName = AppEvent["Event"];

// ---- third-party suites: instruction callbacks, by InfoType ----

interface SuiteHead<I extends string> { SuiteId: S; InfoType: I; TimeStamp: S }
export interface SuiteTicketInfo extends SuiteHead<"suite_ticket"> { SuiteTicket: S }
export interface CreateAuthInfo extends SuiteHead<"create_auth"> { AuthCode: S; State?: S }
export interface ChangeAuthInfo extends SuiteHead<"change_auth"> { AuthCorpId: S; State?: S }
export interface CancelAuthInfo extends SuiteHead<"cancel_auth"> { AuthCorpId: S }
export interface ResetPermanentCodeInfo extends SuiteHead<"reset_permanent_code"> { AuthCode: S }
/** An authorised corp's contact change, at a suite's instruction URL: an app's change_contact fields, with AuthCorpId. */
export interface SuiteContactChangeInfo extends SuiteHead<"change_contact">, UserFields {
  AuthCorpId: S;
  ChangeType: "create_user" | "update_user" | "delete_user" | "create_party" | "update_party" | "delete_party" | "update_tag";
  UserID?: S;
  NewUserID?: S;
  Id?: S;
  ParentId?: S;
  Order?: S;
  TagId?: S;
  AddUserItems?: S;
  DelUserItems?: S;
  AddPartyItems?: S;
  DelPartyItems?: S;
}
/** An authorised corp's customer-contact change, at a suite's instruction URL (a third-party app gets them there): the app events' fields, with AuthCorpId. */
export interface SuiteExternalChangeInfo extends SuiteHead<"change_external_contact" | "change_external_chat" | "change_external_tag"> {
  AuthCorpId: S;
  ChangeType: S;
  UserID?: S;
  ExternalUserID?: S;
  State?: S;
  WelcomeCode?: S;
  Source?: S;
  FailReason?: S;
  ChatId?: S;
  UpdateDetail?: S;
  Id?: S;
  TagType?: S;
  StrategyId?: S;
}
export type SuiteInfo =
  | SuiteTicketInfo
  | CreateAuthInfo
  | ChangeAuthInfo
  | CancelAuthInfo
  | ResetPermanentCodeInfo
  | SuiteContactChangeInfo
  | SuiteExternalChangeInfo;
export type InfoType = SuiteInfo["InfoType"];

// ---- AI bots (JSON callbacks, as WeCom sends them) ----

interface BotHead<T extends string> {
  msgid: string;
  aibotid: string;
  chatid?: string;
  chattype?: "single" | "group";
  from: { userid: string };
  response_url?: string;
  create_time?: number;
  msgtype: T;
}
export interface BotText extends BotHead<"text"> { text: { content: string } }
export interface BotImage extends BotHead<"image"> { image: { url: string } }
export interface BotVoice extends BotHead<"voice"> { voice: { content: string } }
export interface BotFile extends BotHead<"file"> { file: { url: string } }
export interface BotMixed extends BotHead<"mixed"> {
  mixed: {
    msg_item: ({ msgtype: "text"; text: { content: string } } | { msgtype: "image"; image: { url: string } })[];
  };
}
export interface BotStreamRefresh extends BotHead<"stream"> { stream: { id: string } }
export interface BotEvent<E extends string = BotEventType> extends BotHead<"event"> { event: { eventtype: E } & Record<string, unknown> }
export type BotEventType = "enter_chat" | "template_card_event" | "feedback_event";
export type BotMessage = BotText | BotImage | BotVoice | BotFile | BotMixed | BotStreamRefresh | BotEvent;
export type BotMsgType = BotMessage["msgtype"];

/** Every callback WeCom may send, as the event's `event` field. */
export type Payload = Message | AppEvent | SuiteInfo | BotMessage;

/** The event JSON the intranet receives (docs/delivery.md, "What your intranet receives"). */
export interface WecomEvent<P = Payload> {
  id: string;
  app: string;
  receiveId: string;
  /** A suite's callback (docs/providers.md): the corp it is for, a data callback's receiveId or an instruction's AuthCorpId. */
  corpId?: string;
  receivedAt: string;
  format: "xml" | "json";
  /** The AI-bot stream this message opens. */
  streamId?: string;
  event: P;
  raw: string;
  /** 微信客服, for an app with `kf` (docs/kf.md): how many kf_msg_or_event callbacks this event stands for, when more than one. */
  coalesced?: number;
}

/** The members of union `X` whose discriminant `F` can be `V`, narrowed to it (a member may stand for several values). */
type Narrow<X, F extends string, V extends string> = X extends { [K in F]: infer D } ? (V extends D ? X & { [K in F]: V } : never) : never;
/** The ChangeType values of event `E` (never for an event without one). */
export type ChangeTypeOf<E extends EventName> = Narrow<AppEvent, "Event", E> extends infer X ? (X extends { ChangeType: infer K } ? K : never) : never;
/** The payload of event `E`; with `C`, narrowed to that ChangeType. */
export type EventOf<E extends EventName, C extends ChangeTypeOf<E> = never> = [C] extends [never]
  ? Narrow<AppEvent, "Event", E>
  : Narrow<Narrow<AppEvent, "Event", E>, "ChangeType", C>;
export type MessageOf<T extends MessageType> = Narrow<Message, "MsgType", T>;
export type SuiteInfoOf<I extends InfoType> = Narrow<SuiteInfo, "InfoType", I>;
export type BotMessageOf<T extends BotMsgType> = Narrow<BotMessage, "msgtype", T>;
/** A message of MsgType `msgType`: `isMessage(e, "text")` narrows `e.event` to a TextMessage. */
export function isMessage<T extends MessageType>(e: WecomEvent, msgType: T): e is WecomEvent<MessageOf<T>>;
/** An app event: `isEvent(e, "click")`. */
export function isEvent<E extends EventName>(e: WecomEvent, event: E): e is WecomEvent<EventOf<E>>;
/** An app event of that ChangeType: `isEvent(e, "change_contact", "create_user")`. */
export function isEvent<E extends EventName, const C extends ChangeTypeOf<E>>(e: WecomEvent, event: E, changeType: C): e is WecomEvent<EventOf<E, C>>;
/** A suite's instruction callback of InfoType `infoType`. */
export function isSuiteInfo<I extends InfoType>(e: WecomEvent, infoType: I): e is WecomEvent<SuiteInfoOf<I>>;
/** An AI bot's callback of msgtype `msgtype`. */
export function isBot<T extends BotMsgType>(e: WecomEvent, msgtype: T): e is WecomEvent<BotMessageOf<T>>;
