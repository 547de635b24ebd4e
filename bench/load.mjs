// bench/load.mjs — sends prepared requests at a fixed concurrency over
// keep-alive connections and times each one as the client sees it (from
// writing the request to the last byte of the answer).
//
// Requests are built (encrypted, signed) before a phase starts, so the
// generator does little more than write bytes while the server is measured.
// An answer that has to be opened to be judged (an encrypted bot reply, a
// JSON result) brings its own `expect.check`, run here as it arrives.
import { Agent, request as httpRequest } from "node:http";

function send(agent, base, req, timeoutMs) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const headers = { ...req.headers };
    if (req.body !== undefined) {
      headers["content-type"] ??= "application/xml";
      headers["content-length"] = req.body.length;
    }
    const r = httpRequest({ agent, host: base.hostname, port: base.port, method: req.method, path: req.path, headers, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8"), ms: Number(process.hrtime.bigint() - started) / 1e6 }),
      );
      res.on("error", (error) => resolve({ status: 0, body: String(error), ms: 0 }));
    });
    r.on("timeout", () => r.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    r.on("error", (error) => resolve({ status: 0, body: String(error), ms: 0 }));
    r.end(req.body);
  });
}

/** Why the answer is not the expected one, or null when it is. */
function shortfall(expect, answer) {
  if (expect.status === "4xx") return answer.status >= 400 && answer.status <= 499 ? null : "not a 4xx";
  if (answer.status !== expect.status) return `status ${answer.status}, not ${expect.status}`;
  if (expect.body !== undefined && answer.body !== expect.body) return "unexpected body";
  if (expect.check) {
    try {
      return expect.check(answer.body);
    } catch (error) {
      return String(error instanceof Error ? error.message : error);
    }
  }
  return null;
}

/**
 * @param {string} baseUrl         e.g. http://127.0.0.1:8787
 * @param {{method: string, path: string, headers?: object, body?: Buffer, expect: {status: number | "4xx", body?: string, check?: (body: string) => string | null}}[]} requests
 *   `expect.check` gets the answer's body once status (and body, if given) match, and returns null or what is wrong.
 * @returns {Promise<{latencies: number[], failures: {status: number, body: string, why: string}[], wallMs: number}>}
 */
export async function runLoad(baseUrl, requests, { concurrency = 20, timeoutMs = 120_000 } = {}) {
  const base = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = [];
  const failures = [];
  let next = 0;
  const started = process.hrtime.bigint();
  // `concurrency` loops, each taking the next request until none is left.
  await Promise.all(
    Array.from({ length: Math.min(concurrency, requests.length) }, async () => {
      while (next < requests.length) {
        const req = requests[next++];
        const answer = await send(agent, base, req, timeoutMs);
        const why = shortfall(req.expect, answer);
        if (why === null) latencies.push(answer.ms);
        else failures.push({ status: answer.status, body: answer.body.slice(0, 300), why });
      }
    }),
  );
  agent.destroy();
  return { latencies, failures, wallMs: Number(process.hrtime.bigint() - started) / 1e6 };
}

export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
