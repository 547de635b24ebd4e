/**
 * Third-party suites and 代开发 templates (docs/providers.md): which
 * receiveId each of a suite's two URLs takes, and what an instruction
 * callback must say of itself.
 *
 *   URL                          GET (verification)   POST
 *   /callback/{app}       指令    providerCorpId       suiteId; the plaintext's SuiteId too
 *   /callback/{app}/data  数据    providerCorpId       any corp: the plaintext's ToUserName (or AuthCorpId)
 */
import type { SuiteConfig } from "../config.js";
import { WecomError, WXBizMsgCryptCode } from "../errors.js";
import { isPlainObject } from "../lib/checks.js";

export type SuiteUrl = "instruction" | "data";

/** The longest suite_ticket kept (WeCom documents at most 512 bytes). */
export const MAX_SUITE_TICKET = 512;

/** Why `receiveId` is not the one this URL and method take, in words that say which URL it belongs to; null when it is. */
export function receiveIdProblem(suite: SuiteConfig, app: string, url: SuiteUrl, method: "GET" | "POST", receiveId: string): string | null {
  if (method === "GET") {
    if (receiveId === suite.providerCorpId) return null;
    return "receiveId is not the provider's corpid (suite.providerCorpId): WeCom verifies both of a suite's URLs with it";
  }
  if (url === "instruction") {
    if (receiveId === suite.suiteId) return null;
    return `receiveId is not the suite id (suite.suiteId): a corp's data callback? Its URL is /callback/${app}/data (数据回调URL)`;
  }
  if (receiveId === suite.suiteId) return `receiveId is the suite id: an instruction callback, whose URL is /callback/${app} (指令回调URL)`;
  if (receiveId === "") return "receiveId is empty: a data callback names the corp it is for";
  return null;
}

/**
 * The corp a data callback is for: its receiveId, which must be the corp the
 * plaintext names (ToUserName, or AuthCorpId), so that one corp's callback
 * cannot pass as another's.
 */
export function dataCorp(receiveId: string, event: unknown): string {
  const fields = isPlainObject(event) ? event : {};
  if (fields.ToUserName === receiveId || fields.AuthCorpId === receiveId) return receiveId;
  throw new WecomError(WXBizMsgCryptCode.ValidateReceiveId, "receiveId is not the corp the callback names (ToUserName or AuthCorpId)");
}

/** The corp an instruction callback is about (AuthCorpId), if it names one. */
export function instructionCorp(event: unknown): string | undefined {
  const corp = isPlainObject(event) ? event.AuthCorpId : undefined;
  return typeof corp === "string" && corp !== "" ? corp : undefined;
}

/**
 * Checks an instruction callback: its SuiteId, when it has one, is the
 * suite's. A suite_ticket must carry a usable ticket and TimeStamp, and is
 * answered with what to keep.
 */
export function checkInstruction(suite: SuiteConfig, event: unknown): { ticket: string; timeStamp: number } | undefined {
  const fields = isPlainObject(event) ? event : {};
  if (fields.SuiteId !== undefined && fields.SuiteId !== suite.suiteId) {
    throw new WecomError(WXBizMsgCryptCode.ValidateReceiveId, "SuiteId in the callback is not the suite's (suite.suiteId)");
  }
  if (fields.InfoType !== "suite_ticket") return undefined;
  const ticket = fields.SuiteTicket;
  if (typeof ticket !== "string" || ticket === "" || ticket.length > MAX_SUITE_TICKET) {
    throw new WecomError("invalid_parameter", `a suite_ticket callback must carry a SuiteTicket of 1-${MAX_SUITE_TICKET} characters`);
  }
  const stamp = fields.TimeStamp;
  if (typeof stamp !== "string" || !/^\d{1,10}$/.test(stamp)) {
    throw new WecomError("invalid_parameter", "a suite_ticket callback must carry its TimeStamp in unix seconds");
  }
  return { ticket, timeStamp: Number(stamp) };
}
