import { FlotillaError } from './errors.js';

/**
 * The contract between the `flotilla` CLI and the packages that add subcommands to it. A
 * package exports `commands: CommandDefinition[]` from its `./cli` entry; the CLI finds it
 * there, so packages never depend on the CLI.
 */

/** One flag of a subcommand, in `node:util` `parseArgs` terms. */
export interface CommandOption {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in `--help`. */
  description: string;
  /** Placeholder shown in `--help` for string flags, e.g. `<port>`. */
  placeholder?: string;
  multiple?: boolean;
}

/** Parsed arguments handed to a command. */
export interface CommandArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Where a command reads and writes; tests pass their own. */
export interface CommandIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** A `flotilla <name>` subcommand. */
export interface CommandDefinition {
  name: string;
  /** One line for `flotilla --help`. */
  summary: string;
  /** Usage line after `flotilla <name>`, e.g. `[--port <port>]`. */
  usage?: string;
  options?: Record<string, CommandOption>;
  /** Whether positional arguments are accepted. */
  allowPositionals?: boolean;
  /**
   * Runs the command. Resolves with the exit code once it is done; a long-running command
   * (a server) resolves when it has stopped, e.g. after SIGTERM.
   */
  run(args: CommandArgs, io: CommandIO): Promise<number>;
}

/** Thrown by a command for bad usage; the CLI prints the message and the usage, exit 2. */
export class UsageError extends FlotillaError {
  static override readonly defaultCode: string = 'USAGE';
  static override readonly defaultStatus: number = 400;
}

/** The value of a string flag, or undefined when absent. */
export function stringOption(values: CommandArgs['values'], name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** The value of a port flag; bad values are a `UsageError` naming the flag and the value. */
export function portOption(values: CommandArgs['values'], name: string): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) {
    throw new UsageError(`--${name} should be an integer in [1, 65535], got "${text}"`);
  }
  return port;
}
