/**
 * One POST with a timer of its own over the whole exchange (the answer and
 * `consume` of its body), cleared as soon as it is done: a pending
 * AbortSignal.timeout() would keep the invocation (and a Durable Object
 * being evicted) waiting for it. Used by every outbound POST: pushes, reply
 * endpoints (send.ts) and the alerts' group robot (alerts/send.ts). Never
 * throws. A fetch error may quote the URL: a caller whose URL holds a
 * secret cleans the error (alerts/send.ts does). With `via`, a service
 * binding, the POST goes through it instead of to the internet.
 */
export type PostOutcome<T> = { readonly response: Response; readonly value: T } | { readonly error: string };

export async function postWithin<T>(
  url: string,
  headers: HeadersInit,
  body: string,
  timeoutMs: number,
  consume: (response: Response) => Promise<T>,
  via?: Fetcher,
): Promise<PostOutcome<T>> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("no answer in time", "TimeoutError")), timeoutMs);
  try {
    const init: RequestInit = { method: "POST", headers, body, redirect: "manual", signal: controller.signal };
    const response = await (via ? via.fetch(url, init) : fetch(url, init));
    return { response, value: await consume(response) };
  } catch (error) {
    return { error: controller.signal.aborted ? `no answer within ${timeoutMs} ms` : `request failed: ${describe(error)}` };
  } finally {
    clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 200) : "unknown error";
}
