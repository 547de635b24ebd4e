/**
 * One error type for everything a request can be refused for. `code` is the
 * official WXBizMsgCrypt number where one exists (-40001 …), a stable name
 * otherwise. The HTTP status is derived from the code in `statusOf`, and
 * nowhere else.
 */

export const WXBizMsgCryptCode = {
  ValidateSignature: -40001,
  ParseXml: -40002,
  ComputeSignature: -40003,
  IllegalAesKey: -40004,
  ValidateReceiveId: -40005,
  EncryptAes: -40006,
  DecryptAes: -40007,
  IllegalBuffer: -40008,
  EncodeBase64: -40009,
  DecodeBase64: -40010,
  GenReturnXml: -40011,
} as const;

export type WXBizMsgCryptCode = (typeof WXBizMsgCryptCode)[keyof typeof WXBizMsgCryptCode];

export type ErrorName =
  | "not_found"
  | "unknown_app"
  | "method_not_allowed"
  | "missing_parameter"
  | "invalid_parameter"
  | "stale_timestamp"
  | "payload_too_large"
  | "not_configured"
  | "invalid_config"
  | "unauthorized"
  | "queue_full"
  | "conflict"
  | "stream_expired"
  | "body_incomplete"
  | "too_many_requests"
  | "upgrade_required"
  | "internal_error";

export type ErrorCode = WXBizMsgCryptCode | ErrorName;

export class WecomError extends Error {
  override readonly name = "WecomError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Detail for the log line only; never sent on the wire. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

const STATUS: Record<string, number> = {
  [WXBizMsgCryptCode.ValidateSignature]: 401,
  stale_timestamp: 401,
  unauthorized: 401,
  not_found: 404,
  unknown_app: 404,
  method_not_allowed: 405,
  body_incomplete: 400,
  conflict: 409,
  stream_expired: 410,
  payload_too_large: 413,
  too_many_requests: 429,
  upgrade_required: 426,
  not_configured: 503,
  invalid_config: 503,
  queue_full: 503,
  internal_error: 503,
};

/** Everything not listed is bad input: 400. Nothing maps to 500. */
export function statusOf(code: ErrorCode): number {
  return STATUS[String(code)] ?? 400;
}
