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
