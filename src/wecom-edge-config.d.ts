/**
 * wecom-edge.config.json, bundled with the Worker under this module name
 * (wrangler.toml's [alias]; docs/configuration.md). Its content is checked
 * at load (src/config.ts), so it is typed as unknown here.
 */
declare module "wecom-edge-config" {
  const config: unknown;
  export default config;
}
