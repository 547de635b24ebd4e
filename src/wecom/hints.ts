/**
 * What a refusal most likely means, in plain words, for the operator who
 * reads the recent refusals (docs/operating.md, "Recent refusals"). Hints name settings,
 * never values.
 */
import { WXBizMsgCryptCode, type ErrorCode } from "../errors.js";

const HINTS: Partial<Record<string, string>> = {
  [WXBizMsgCryptCode.ValidateSignature]:
    "the Token differs from the one in WeCom's console (or the body or URL was changed on the way); `npx wecom-edge diagnose` says which",
  [WXBizMsgCryptCode.ParseXml]: "the body is not a WeCom envelope (XML with Encrypt, or JSON with encrypt)",
  [WXBizMsgCryptCode.ValidateReceiveId]:
    "the message was encrypted for another receiveId: a suite id (tj…) where the app expects a corp id (ww…), or the other way round; check receiveId",
  [WXBizMsgCryptCode.DecryptAes]: "the EncodingAESKey differs from the one in WeCom's console",
  [WXBizMsgCryptCode.IllegalBuffer]: "the EncodingAESKey is wrong, or the message was cut",
  [WXBizMsgCryptCode.DecodeBase64]: "Encrypt or echostr is not base64: changed on the way (URL-encoded twice?)",
  stale_timestamp: "the timestamp is outside WECOM_MAX_SKEW_SECONDS: a replay, or a clock far off",
  missing_parameter: "msg_signature, timestamp, nonce (or echostr) is missing: is this WeCom calling?",
  invalid_parameter: "a query parameter or the body is malformed",
  payload_too_large: "the body is larger than WeCom sends",
  body_incomplete: "the caller went away before the body ended",
};

/** For refusals kept under "*": callbacks to an app name that is not configured. */
export const UNKNOWN_APP_HINT =
  "no app has this name: compare the URL in WeCom's console (…/callback/NAME) with the apps configured; the reason names the app asked for";

export function hintFor(code: ErrorCode): string {
  return HINTS[String(code)] ?? "see the code in docs/architecture.md, \"Routes and answers\"";
}
