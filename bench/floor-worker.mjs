// bench/floor-worker.mjs — the floor: a Worker that answers "success" to
// everything, served by the same workerd binary with the same kind of config
// (same bindings, a SQLite Durable Object namespace it never uses). What it
// costs per request is what workerd spends on HTTP and on entering a Worker at
// all; the benchmark reports the gateway's cost above it.
//
// It reads the body first: any gateway must, to check a signature that covers
// it, so receiving the bytes belongs to the floor.
import { DurableObject } from "cloudflare:workers";

export class AppQueue extends DurableObject {}

export default {
  async fetch(request) {
    if (request.body) await request.arrayBuffer();
    return new Response("success", { headers: { "content-type": "text/plain; charset=utf-8" } });
  },
};
