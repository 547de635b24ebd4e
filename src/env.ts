/**
 * The Worker's environment. `Env` is generated from wrangler.toml by
 * `npm run types` (vars and the Durable Object bindings). Secrets are not in
 * wrangler.toml, so they are typed here, all optional: a deployment without
 * them must still answer with a clear message.
 */
export interface Secrets {
  WECOM_APPS?: string;
  ADMIN_TOKEN?: string;
  /** Where alerts go and which are on (docs/operating.md, "Alerts"); unset: no alerts. */
  WECOM_ALERTS?: string;
  WECOM_DEMO?: string;
}

export type WorkerEnv = Env & Secrets;
