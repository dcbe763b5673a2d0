import type { CommandDefinition } from '@flotilla/core';

/** `flotilla --help`: every command with its one-line summary. */
export function globalUsage(commands: Map<string, CommandDefinition>): string {
  const names = [...commands.keys()].sort();
  const width = Math.max(8, ...names.map((n) => n.length));
  const lines = names.map((n) => `  ${n.padEnd(width)}  ${commands.get(n)?.summary ?? ''}`);
  return [
    'Usage: flotilla <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `flotilla <command> --help` for the options of a command.',
    '',
  ].join('\n');
}

/** `flotilla <command> --help`: the usage line and every option. */
export function commandUsage(command: CommandDefinition): string {
  const options = Object.entries(command.options ?? {});
  const flags = options.map(([name, o]) => {
    const short = o.short ? `-${o.short}, ` : '    ';
    const arg = o.type === 'string' ? ` ${o.placeholder ?? '<value>'}` : '';
    return { left: `  ${short}--${name}${arg}`, right: o.description };
  });
  flags.push({ left: '  -h, --help', right: 'Show this help' });
  const width = Math.max(...flags.map((f) => f.left.length));
  return [
    `Usage: flotilla ${command.name}${command.usage ? ` ${command.usage}` : ''}`,
    '',
    command.summary,
    '',
    'Options:',
    ...flags.map((f) => `${f.left.padEnd(width)}  ${f.right}`),
    '',
  ].join('\n');
}
