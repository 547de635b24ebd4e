#!/usr/bin/env node
// bench/sink.mjs — the stand-in intranet webhook: answers every POST with 204
// as fast as it can and counts what arrived, per path (one path per app).
// It runs in its own process so that its CPU is neither workerd's nor the
// load generator's, and so that it answers promptly while the harness is busy.
//
//   POST /<anything>   drained, counted under its path, answered 204
//   GET  /__counts     {"<path>": n, …}
//
// Prints {"port": n} on its first stdout line once it listens on 127.0.0.1.
import { createServer } from "node:http";

const counts = Object.create(null);

const server = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/__counts") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(counts));
    return;
  }
  const path = (req.url ?? "/").split("?")[0];
  req.resume(); // the body is not needed, only that it was sent in full
  req.on("end", () => {
    counts[path] = (counts[path] ?? 0) + 1;
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));
process.on("SIGTERM", () => process.exit(0));
