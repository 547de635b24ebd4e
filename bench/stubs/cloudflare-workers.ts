// Node has no `cloudflare:workers`; the benchmarks never reach a Durable Object, so a bare base class does.
export class DurableObject<Env = unknown> {
  constructor(
    readonly ctx: unknown,
    readonly env: Env,
  ) {}
}
