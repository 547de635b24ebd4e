// Every `npx wecom-edge <cmd>` and `npm run <script>` the docs show exists, and
// every --flag shown with a command is in that command's --help
// (docs/development.md, "The docs and their translations").
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { commands, docFiles, ROOT } from "./docs.mjs";

const CLI = join(ROOT, "bin/wecom-edge.mjs");
const helps = new Map();
/** `wecom-edge [cmd] --help`, run once per command. */
function help(command) {
  if (!helps.has(command)) {
    const args = command === undefined ? ["--help"] : [command, "--help"];
    helps.set(command, execFileSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } }));
  }
  return helps.get(command);
}

/** The commands `wecom-edge --help` lists under "Commands:". */
function cliCommands() {
  const section = help(undefined).split(/^Commands:$/m)[1].split(/^\S/m)[0];
  return new Set([...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((match) => match[1]));
}

const mentions = (text, flag) => new RegExp(`(^|[^\\w-])${flag}(?![\\w-])`).test(text);
const scripts = new Set(Object.keys(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts));

test("commands and flags are read from the docs' code", () => {
  const doc = [
    "Run `npx wecom-edge tail URL --app x --once` or `npm run demo -- --once`.",
    "```sh",
    "npx wecom-edge diagnose --curl \"curl -X POST 'https://x' --data-raw '<xml/>'\" \\",
    "  --apps a.json   # --not-a-flag",
    "npx wecom-edge keygen --app hr --json | node -e 'x' --eval",
    "npx wecom-edge <command> --help",
    "npm run <script>",
    "```",
  ].join("\n");
  assert.deepEqual(commands(doc), {
    wecomEdge: [
      { command: "tail", flags: ["--app", "--once"], line: 1 },
      { command: "diagnose", flags: ["--curl", "--apps"], line: 3 },
      { command: "keygen", flags: ["--app", "--json"], line: 5 },
    ],
    npmRun: [{ script: "demo", line: 1 }],
  });
});

test("the CLI's command list is read from its --help", () => {
  const listed = cliCommands();
  for (const command of ["keygen", "diagnose", "simulate", "tail", "check-config"]) assert.ok(listed.has(command), command);
  assert.ok(!listed.has("nosuch"));
  assert.ok(mentions(help("tail"), "--once") && !mentions(help("tail"), "--on") && !mentions(help("tail"), "--nosuch-flag"));
});

for (const file of docFiles()) {
  test(`the commands and flags ${file} shows exist`, () => {
    const { wecomEdge, npmRun } = commands(readFileSync(join(ROOT, file), "utf8"));
    const known = cliCommands();
    const problems = [];
    for (const { command, flags, line } of wecomEdge) {
      if (command.startsWith("-")) {
        if (!mentions(help(undefined), command)) problems.push(`${file}:${line}: wecom-edge --help does not mention ${command}`);
        continue;
      }
      if (!known.has(command)) {
        problems.push(`${file}:${line}: npx wecom-edge ${command}: no such command (wecom-edge --help lists ${[...known].join(", ")})`);
        continue;
      }
      for (const flag of flags) {
        if (!mentions(help(command), flag)) problems.push(`${file}:${line}: npx wecom-edge ${command} ${flag}: not in \`wecom-edge ${command} --help\``);
      }
    }
    for (const { script, line } of npmRun) {
      if (!scripts.has(script)) problems.push(`${file}:${line}: npm run ${script}: no such script in package.json`);
    }
    assert.deepEqual(problems, [], problems.join("\n"));
  });
}
