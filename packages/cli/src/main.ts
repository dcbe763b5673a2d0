import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type CommandDefinition, type CommandIO, isFlotillaError, UsageError } from '@flotilla/core';
import { statusCommand } from './commands/status.js';
import { upCommand } from './commands/up.js';
import { loadCommands } from './registry.js';
import { commandUsage, globalUsage } from './usage.js';

const BUILT_IN: CommandDefinition[] = [upCommand, statusCommand];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Why `parseArgs` refused the arguments, in one line. */
function describeParseError(error: NodeJS.ErrnoException): string {
  const quoted = /'([^']+)'/.exec(error.message)?.[1];
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return quoted ? `unknown option '${quoted}'` : 'unknown option';
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return error.message.split('.')[0] ?? error.message;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return quoted ? `unexpected argument '${quoted}'` : 'unexpected argument';
    default:
      return error.message;
  }
}

/** Runs `flotilla` with `argv` (without node and the script); resolves with the exit code. */
export async function main(argv: string[], io: Partial<CommandIO> = {}): Promise<number> {
  const out: CommandIO = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    env: io.env ?? process.env,
    cwd: io.cwd ?? process.cwd(),
  };
  const commands = await loadCommands(BUILT_IN);
  const [first, ...rest] = argv;

  if (first === undefined) {
    out.stderr.write(globalUsage(commands));
    return 2;
  }
  if (first === '--help' || first === '-h') {
    out.stdout.write(globalUsage(commands));
    return 0;
  }
  if (first === '--version' || first === '-v') {
    out.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first === 'help') {
    const target = rest[0] === undefined ? undefined : commands.get(rest[0]);
    out.stdout.write(target ? commandUsage(target) : globalUsage(commands));
    return 0;
  }
  const command = commands.get(first);
  if (!command) {
    const what = first.startsWith('-') ? `unknown option '${first}'` : `unknown command "${first}"`;
    out.stderr.write(`flotilla: ${what}\n\n${globalUsage(commands)}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out.stdout.write(commandUsage(command));
    return 0;
  }

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: command.options ?? {},
      allowPositionals: command.allowPositionals ?? false,
      strict: true,
    });
  } catch (error) {
    out.stderr.write(`flotilla ${command.name}: ${describeParseError(error as NodeJS.ErrnoException)}\n\n`);
    out.stderr.write(commandUsage(command));
    return 2;
  }

  try {
    return await command.run({ values: parsed.values, positionals: parsed.positionals }, out);
  } catch (error) {
    if (error instanceof UsageError) {
      out.stderr.write(`flotilla ${command.name}: ${error.message}\n\n${commandUsage(command)}`);
      return 2;
    }
    const message = isFlotillaError(error)
      ? `${error.message} (${error.code})`
      : String((error as Error)?.stack ?? error);
    out.stderr.write(`flotilla ${command.name}: ${message}\n`);
    return 1;
  }
}
