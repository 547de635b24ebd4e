/**
 * A webhook receiver on 127.0.0.1 for the integration tests, started by
 * vitest.config.ts in Node. Tests reach it from workerd over real HTTP; its
 * URL reaches them through vitest's `provide`/`inject`.
 *
 *   POST /ok/{bucket}                 200
 *   POST /status/{code}/{bucket}      answers {code} (Retry-After from ?retryAfter=)
 *   POST /slow/{ms}/{bucket}          answers 200 after {ms}
 *   POST /flaky/{n}/{bucket}          fails the first {n} attempts of each webhook-id with 503
 *   POST /toggle/{bucket}             200 or 503, as last set with PUT /toggle/{bucket}/{up|down}
 *   POST /poison/{bucket}             500 if the body contains "POISON", else 200
 *   GET  /received/{bucket}           what reached the bucket, as JSON
 *   POST /answer/{code}/{bucket}      answers {code} with the body given as ?body=
 *   POST /open-reply                  {encodingAESKey, token, format, body} → the reply opened by independent.ts
 *   POST /robot/{bucket}              a WeCom group robot: 200 {"errcode":0,"errmsg":"ok"}
 *   POST /robot-limited/{n}/{bucket}  a robot over its rate limit the first {n} times per bucket: 200 {"errcode":45009,…}, then ok
 *   POST /hold/{bucket}               recorded at once, answered 200 {"errcode":0,"errmsg":"ok"} only after PUT /hold/{bucket}/release
 *
 * Every POST is recorded in its bucket, accepted or not.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { openReply } from "./independent.js";

export interface ReceivedRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
  status: number;
}

declare module "vitest" {
  export interface ProvidedContext {
    receiverUrl: string;
  }
}

/** Starts the receiver on a free port; it does not keep the process alive. */
export async function startReceiver(): Promise<string> {
  const buckets = new Map<string, ReceivedRequest[]>();
  const attempts = new Map<string, number>();
  const toggles = new Map<string, boolean>();
  const holds = new Map<string, { released: Promise<void>; release: () => void }>();
  const holdOf = (bucket: string) => {
    let hold = holds.get(bucket);
    if (!hold) {
      let release = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      hold = { released, release };
      holds.set(bucket, hold);
    }
    return hold;
  };

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const parts = (req.url ?? "/").split("?")[0]!.split("/").filter(Boolean);
    const query = new URL(req.url ?? "/", "http://x").searchParams;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const send = (status: number, text = "", headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "text/plain", ...headers });
      res.end(text);
    };

    if (req.method === "GET" && parts[0] === "received") {
      return send(200, JSON.stringify(buckets.get(parts[1] ?? "") ?? []), { "content-type": "application/json" });
    }
    if (req.method === "PUT" && parts[0] === "hold") {
      holdOf(parts[1] ?? "").release();
      return send(204);
    }
    if (req.method === "PUT" && parts[0] === "toggle") {
      toggles.set(parts[1] ?? "", parts[2] === "up");
      return send(204);
    }
    if (req.method !== "POST") return send(404);
    if (parts[0] === "open-reply") {
      try {
        const { encodingAESKey, token, format, body: reply } = JSON.parse(body) as Record<string, string>;
        return send(200, JSON.stringify(openReply(encodingAESKey!, token!, format as "xml" | "json", reply!)), { "content-type": "application/json" });
      } catch (error) {
        return send(422, String(error));
      }
    }

    const kind = parts[0];
    const bucket = parts[parts.length - 1] ?? "";
    let status = 200;
    let headers: Record<string, string> = {};
    let robotErrcode: number | undefined;
    if (kind === "status") {
      status = Number(parts[1]);
      const retryAfter = query.get("retryAfter");
      if (retryAfter !== null) headers = { "retry-after": retryAfter };
    } else if (kind === "slow") {
      await new Promise((resolve) => setTimeout(resolve, Number(parts[1])));
    } else if (kind === "flaky") {
      const key = `${bucket}/${req.headers["webhook-id"]}`;
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      if (n <= Number(parts[1])) status = 503;
    } else if (kind === "toggle") {
      status = toggles.get(bucket) === false ? 503 : 200;
    } else if (kind === "poison") {
      status = body.includes("POISON") ? 500 : 200;
    } else if (kind === "answer") {
      status = Number(parts[1]);
    } else if (kind === "robot-limited") {
      const key = `robot-limited/${bucket}`;
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      robotErrcode = n <= Number(parts[1]) ? 45009 : 0;
    } else if (kind === "robot" || kind === "hold") {
      robotErrcode = 0;
    } else if (kind !== "ok" && kind !== "hold") {
      status = 404;
    }
    const record: ReceivedRequest = {
      path: req.url ?? "",
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
      body,
      status,
    };
    const list = buckets.get(bucket) ?? [];
    list.push(record);
    buckets.set(bucket, list);
    if (kind === "hold") await holdOf(bucket).released;
    if (kind === "answer") return send(status, query.get("body") ?? "", { "content-type": "application/json" });
    if (robotErrcode !== undefined) {
      const errmsg = robotErrcode === 0 ? "ok" : "api freq out of limit";
      return send(200, JSON.stringify({ errcode: robotErrcode, errmsg }), { "content-type": "application/json" });
    }
    send(status, status < 300 ? "ok" : "no", headers);
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  server.unref();
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}
