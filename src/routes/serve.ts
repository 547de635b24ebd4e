/**
 * Runs one route's handler: any refusal becomes its JSON answer (the status
 * comes from the error's code, in errors.ts), and the request gets its one
 * log line. Anything that is not a WecomError is a bug or a platform fault,
 * not bad input: answered 503 so that WeCom retries; never 500, never a stack.
 */
import { WecomError } from "../errors.js";
import { logRequest, type RequestLog } from "../log.js";
import { errorResponse } from "./http.js";

export interface ServeOptions {
  readonly route: RequestLog["route"];
  readonly app?: string;
  /** The methods this route takes, for a 405's Allow header. */
  readonly allow: readonly string[];
  /** False for routes polled by monitors (/healthz): no log line. */
  readonly log: boolean;
  /** `cache-control: no-store` on every answer, success or refusal (the admin API's). */
  readonly noStore?: boolean;
}

export async function serve(
  request: Request,
  options: ServeOptions,
  started: number,
  handler: (log: RequestLog) => Promise<Response>,
): Promise<Response> {
  const log: RequestLog = { route: options.route, method: request.method, status: 0, outcome: "ok", durationMs: 0 };
  if (options.app !== undefined) log.app = options.app.slice(0, 64);
  let response: Response;
  try {
    if (!options.allow.includes(request.method)) {
      throw new WecomError("method_not_allowed", `use ${options.allow.join(" or ")}`);
    }
    response = await handler(log);
  } catch (error) {
    const refused = asWecomError(error);
    log.code = refused.code;
    if (refused.detail !== undefined) log.detail = refused.detail;
    const headers = new Headers();
    if (refused.code === "method_not_allowed") headers.set("allow", options.allow.join(", "));
    if (refused.code === "unauthorized") headers.set("www-authenticate", "Bearer");
    if (refused.code === "too_many_requests") headers.set("retry-after", "60");
    response = errorResponse(refused, headers);
  }
  if (options.noStore) response.headers.set("cache-control", "no-store");
  log.status = response.status;
  log.outcome = response.status < 400 ? "ok" : response.status < 500 ? "refused" : "failed";
  log.durationMs = Date.now() - started;
  if (options.log) logRequest(log);
  return response;
}

export function asWecomError(error: unknown): WecomError {
  if (error instanceof WecomError) return error;
  const name = error instanceof Error ? error.name : typeof error;
  return new WecomError("internal_error", "internal error; WeCom will retry", `unexpected ${name}`);
}
