// bench/build.mjs — what the benchmark serves: the bundle `wrangler deploy`
// would upload, and the settings wrangler.toml gives it. Nothing here knows
// how src/ is laid out; it only reads wrangler.toml and the bundle's outdir.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { extname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** wrangler.toml as wrangler itself reads it: dates, flags, vars, Durable Object classes. */
export async function readWranglerConfig(root, file = "wrangler.toml") {
  const wrangler = await import("wrangler");
  const config = wrangler.unstable_readConfig({ config: join(root, file) });
  const sqlite = wrangler.unstable_getDurableObjectClassNameToUseSQLiteMap(config.migrations);
  return {
    main: config.main,
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    vars: Object.fromEntries(Object.entries(config.vars ?? {}).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])),
    durableObjects: (config.durable_objects?.bindings ?? []).map((b) => ({
      binding: b.name,
      className: b.class_name,
      sql: sqlite.get(b.class_name) === true,
    })),
  };
}

function run(command, args, options) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", (error) => resolve({ code: -1, output: output + String(error) }));
    child.on("close", (code) => resolve({ code, output }));
  });
}

/**
 * `wrangler deploy --dry-run --outdir`: exactly what would be uploaded. Another
 * change may be half-way through src/ while the benchmark starts, so a failed
 * build is retried a few times, a minute apart.
 */
export async function bundle({ root, outdir, env, attempts = 3, log = console.log }) {
  for (let attempt = 1; ; attempt++) {
    const { code, output } = await run(join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", outdir, "--config", join(root, "wrangler.toml")], {
      cwd: root,
      env: { ...env, WRANGLER_SEND_METRICS: "false", CI: "1" },
    });
    if (code === 0) break;
    if (attempt >= attempts) throw new Error(`wrangler deploy --dry-run failed ${attempts} times:\n${output.slice(-4000)}`);
    log(`  the bundle did not build (attempt ${attempt}/${attempts}); retrying in 60 s:\n${output.trim().split("\n").slice(-8).join("\n")}`);
    await sleep(60_000);
  }
  return modulesIn(outdir);
}

const MODULE_TYPES = { ".js": "esModule", ".mjs": "esModule", ".cjs": "commonJsModule", ".wasm": "wasm", ".bin": "data", ".txt": "text", ".html": "text" };

/** The outdir's modules, the main one first (workerd runs the first module). */
function modulesIn(outdir) {
  const files = readdirSync(outdir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && MODULE_TYPES[extname(d.name)] !== undefined)
    .map((d) => {
      const path = join(d.parentPath ?? d.path, d.name);
      return { name: path.slice(outdir.length + 1), path, type: MODULE_TYPES[extname(d.name)] };
    });
  const main = files.find((f) => f.name === "index.js") ?? files.find((f) => f.type === "esModule" && !f.name.includes("/"));
  if (!main) throw new Error(`no main module in ${outdir}: ${files.map((f) => f.name).join(", ")}`);
  return [main, ...files.filter((f) => f !== main)];
}
