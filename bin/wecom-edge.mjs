#!/usr/bin/env node
// wecom-edge: command-line helpers for the wecom-edge gateway (no dependencies, Node >= 20.19).
import { readFileSync } from 'node:fs';
import { UsageError } from './lib/cli.mjs';
import { keygen, KEYGEN_HELP } from './lib/keygen.mjs';
import { diagnose, DIAGNOSE_HELP } from './lib/diagnose.mjs';
import { simulate, SIMULATE_HELP } from './lib/simulate.mjs';
import { tail, TAIL_HELP } from './lib/tail.mjs';
import { checkConfig, CHECK_CONFIG_HELP } from './lib/check-config.mjs';
import { routes, ROUTES_HELP } from './lib/routes.mjs';
import { escapeControls, streamsAreTerminals } from './lib/terminal.mjs';

const HELP = `Usage: wecom-edge <command> [options]

Commands:
  keygen     generate a Token, an EncodingAESKey and the intranet secret, and
             print the WECOM_APPS entry that uses them
  diagnose   walk a captured callback through every check the gateway makes,
             and say which one fails and why
  simulate   play WeCom against a gateway: the URL verification and a
             catalogue of realistic callbacks, with a pass/fail table
  tail       pull an app's events as they arrive and print them (a pull
             consumer) and ack them; --once --no-ack only looks;
             --destination NAME pulls one of its pull destinations
  check-config
             check wecom-edge.config.json, the secrets it references and
             Cloudflare's 5 KB limit, with the Worker's own code
  routes     routes test: ask a gateway which of an app's destinations an
             event would go to, why not the others, and what each
             transform would make of it (admin token)

Options:
  -V, --version  print the version ("wecom-edge X.Y.Z") and exit
  -h, --help     show this help

Run 'wecom-edge <command> --help' for a command's options.

Text from outside (events, decrypted plaintext, the gateway's answers) never
reaches a terminal as control characters: see each command's --help, and
--raw where you need the bytes.
`;

const COMMANDS = { keygen, diagnose, simulate, tail, 'check-config': checkConfig, routes };
const HELPS = { keygen: KEYGEN_HELP, diagnose: DIAGNOSE_HELP, simulate: SIMULATE_HELP, tail: TAIL_HELP, 'check-config': CHECK_CONFIG_HELP, routes: ROUTES_HELP };

// Output piped into `head` and closed early: stop quietly, as other command-line tools do.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

// isTTY: which streams are terminals, for the commands' escaping (bin/lib/terminal.mjs; WECOM_EDGE_TTY=1 or 0 decides instead).
const out = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTTY: streamsAreTerminals(),
};

/** package.json's "version": the one place the version is kept (docs/cli.md). */
function version() {
  return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
}

async function main(argv) {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-V') {
    out.stdout(`wecom-edge ${version()}\n`);
    return 0;
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    if (command === undefined) {
      out.stderr(`wecom-edge: no command given\n\n${HELP}`);
      return 2;
    }
    out.stdout(command === 'help' && Object.hasOwn(HELPS, rest[0] ?? '') ? HELPS[rest[0]] : HELP);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    out.stderr(`wecom-edge: unknown command ${escapeControls(JSON.stringify(command))}\n\n${HELP}`);
    return 2;
  }
  try {
    return await COMMANDS[command](rest, out);
  } catch (error) {
    if (error instanceof UsageError) {
      // A usage message may quote an argument, such as a pasted curl command: escaped, whatever the stream.
      out.stderr(`wecom-edge ${error.command}: ${escapeControls(error.message)}\nRun 'wecom-edge ${error.command} --help' for usage.\n`);
      return 2;
    }
    out.stderr(`wecom-edge ${command}: ${escapeControls(error?.stack ?? error)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
