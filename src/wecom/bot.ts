/**
 * AI bots (智能机器人) speak JSON, and answer a user's message with a
 * stream that WeCom keeps refreshing (docs/replies.md, "AI-bot streams"). What the
 * gateway needs to know of their callbacks, and the stream answers.
 */
import { isPlainObject } from "../lib/checks.js";

/** The messages a bot answers with a stream. */
const STREAMED = new Set(["text", "image", "mixed", "voice", "file"]);

export type BotCallback =
  | { readonly kind: "message" }
  | { readonly kind: "refresh"; readonly streamId: string }
  | { readonly kind: "enter_chat" }
  | { readonly kind: "other" };

export function classifyBotCallback(event: unknown): BotCallback {
  if (!isPlainObject(event)) return { kind: "other" };
  const msgtype = event.msgtype;
  if (typeof msgtype === "string" && STREAMED.has(msgtype)) return { kind: "message" };
  if (msgtype === "stream" && isPlainObject(event.stream) && typeof event.stream.id === "string") {
    return { kind: "refresh", streamId: event.stream.id };
  }
  if (msgtype === "event" && isPlainObject(event.event) && event.event.eventtype === "enter_chat") return { kind: "enter_chat" };
  return { kind: "other" };
}

/** A message's stream id, from its event id: WeCom's resend opens the same stream. */
export function streamIdOf(eventId: string, shard = 0): string {
  // A sharded app's stream names the queue it lives in (docs/sharding.md): WeCom's refresh and the stream API find it there.
  return `stream_${eventId.slice("evt_".length)}${shard === 0 ? "" : `.${shard}`}`;
}

export interface StreamState {
  readonly id: string;
  readonly content: string;
  readonly finish: boolean;
  /** JSON text of `msg_item`, sent with the finished stream. */
  readonly msgItem: string | null;
}

/** The answer to a stream refresh: WeCom's stream reply, with what the stream holds now. */
export function streamReply(state: StreamState): string {
  const stream = { id: state.id, finish: state.finish, content: state.content };
  const head = JSON.stringify({ msgtype: "stream", stream }).slice(0, -2);
  return state.msgItem === null ? `${head}}}` : `${head},"msg_item":${state.msgItem}}}`;
}
