/**
 * 微信客服 callbacks (docs/kf.md): a kf_msg_or_event carries only a Token
 * (valid 10 minutes) and the OpenKfId whose messages wait at sync_msg.
 */
import { WecomError } from "../errors.js";
import { isPlainObject } from "../lib/checks.js";

/** An OpenKfId as WeCom gives it (wk…), and as the /kf/ routes take it. */
export const OPEN_KFID = /^[A-Za-z0-9_-]{1,64}$/;
/** The longest callback Token kept. */
export const MAX_KF_TOKEN = 1024;

/** The OpenKfId and Token of a kf_msg_or_event; undefined for any other callback. A malformed one is refused. */
export function kfCallbackOf(event: unknown): { openKfId: string; token: string } | undefined {
  if (!isPlainObject(event) || event.MsgType !== "event" || event.Event !== "kf_msg_or_event") return undefined;
  const { OpenKfId: openKfId, Token: token } = event;
  if (typeof openKfId !== "string" || !OPEN_KFID.test(openKfId)) {
    throw new WecomError("invalid_parameter", "a kf_msg_or_event callback must carry its OpenKfId (1-64 letters, digits, _ or -)");
  }
  if (typeof token !== "string" || token === "" || token.length > MAX_KF_TOKEN) {
    throw new WecomError("invalid_parameter", `a kf_msg_or_event callback must carry its Token (1-${MAX_KF_TOKEN} characters)`);
  }
  return { openKfId, token };
}
