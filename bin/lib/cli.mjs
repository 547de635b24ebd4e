// Shared CLI plumbing: usage errors (exit 2) and option parsing.
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  constructor(message, command) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/** parseArgs, strict, with its errors turned into UsageErrors for `command`. */
export function parseOptions(command, argv, options) {
  try {
    return parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' }, ...options }, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(String(error.message).replace(/^TypeError \[[A-Z_]+\]: /, ''), command);
  }
}
