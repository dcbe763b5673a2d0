import { type CommandDefinition, type CommandIO, EnvVars, stringOption, UsageError } from '@flotilla/core';
import type { BusAdapter } from '../adapter.js';
import type { DeadLetter, DeadLetterFilter } from '../dead-letter.js';

/** Opens (connects) the adapter for a bus URL; the command closes it when done. */
export type AdapterOpener = (url: string, io: CommandIO, options: { prefix?: string }) => Promise<BusAdapter>;

const ACTIONS = ['list', 'replay', 'purge'] as const;

function filterOf(values: Record<string, unknown>): DeadLetterFilter {
  const filter: { topic?: string; group?: string; ids?: string[] } = {};
  const topic = stringOption(values as never, 'topic');
  const group = stringOption(values as never, 'group');
  const ids = values.id as string[] | undefined;
  if (topic !== undefined) filter.topic = topic;
  if (group !== undefined) filter.group = group;
  if (ids !== undefined && ids.length > 0) filter.ids = ids;
  return filter;
}

function describe(d: DeadLetter): string {
  const failed = new Date(d.lastFailureAt).toISOString();
  return [
    `${d.id}  ${d.topic}  group=${d.group}  type=${d.envelope.type}  messageId=${d.envelope.messageId}`,
    `  reason=${d.reason}  attempts=${d.attempts}  last failure ${failed}  ${d.error.code}: ${d.error.message}`,
  ].join('\n');
}

/**
 * `flotilla bus dlq list|replay|purge`: browse, replay and purge dead letters of the bus at
 * `--url` (default `FLOTILLA_BUS_URL`). `open` picks and connects the adapter for the URL.
 */
export function createBusCommand(open: AdapterOpener): CommandDefinition {
  return {
    name: 'bus',
    summary: 'Browse, replay and purge the bus dead-letter queue',
    usage:
      'dlq <list|replay|purge> [--topic <topic>] [--group <group>] [--id <id>]... [--limit <n>] [--json] [--url <url>] [--prefix <prefix>]',
    allowPositionals: true,
    options: {
      url: { type: 'string', placeholder: '<url>', description: `Bus URL (default ${EnvVars.busUrl})` },
      prefix: {
        type: 'string',
        placeholder: '<prefix>',
        description: "Name prefix of the bus (NATS, Redis), if not the adapter's default",
      },
      topic: { type: 'string', placeholder: '<topic>', description: 'Only dead letters of this topic' },
      group: {
        type: 'string',
        placeholder: '<group>',
        description: 'Only dead letters of this subscriber group',
      },
      id: {
        type: 'string',
        placeholder: '<id>',
        multiple: true,
        description: 'Only this dead letter (repeatable)',
      },
      limit: { type: 'string', placeholder: '<n>', description: 'list: at most this many (default 100)' },
      json: { type: 'boolean', description: 'list: print JSON' },
    },
    async run({ values, positionals }, io) {
      const [noun, action, ...extra] = positionals;
      if (noun !== 'dlq' || !ACTIONS.includes(action as never) || extra.length > 0) {
        throw new UsageError(
          `expected "dlq list", "dlq replay" or "dlq purge", got "${positionals.join(' ')}"`,
        );
      }
      const url = stringOption(values, 'url') ?? io.env[EnvVars.busUrl] ?? io.env[EnvVars.databaseUrl];
      if (url === undefined || url === '')
        throw new UsageError(`no bus URL: pass --url or set ${EnvVars.busUrl}`);
      const limitText = stringOption(values, 'limit');
      const limit = limitText === undefined ? 100 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1) {
        throw new UsageError(`--limit should be a positive integer, got "${limitText}"`);
      }
      const filter = filterOf(values);
      if (action !== 'list' && Object.keys(filter).length === 0) {
        throw new UsageError(`dlq ${action} needs --topic, --group or --id`);
      }
      const prefix = stringOption(values, 'prefix');
      const adapter = await open(url, io, prefix === undefined ? {} : { prefix });
      try {
        if (action === 'list') {
          const list = await adapter.deadLetters.list({ ...filter, limit });
          if (values.json) io.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
          else {
            for (const d of list) io.stdout.write(`${describe(d)}\n`);
            io.stdout.write(`${list.length} dead letter${list.length === 1 ? '' : 's'}\n`);
          }
        } else {
          const count =
            action === 'replay'
              ? await adapter.deadLetters.replay(filter)
              : await adapter.deadLetters.purge(filter);
          io.stdout.write(
            `${action === 'replay' ? 'replayed' : 'purged'} ${count} dead letter${count === 1 ? '' : 's'}\n`,
          );
        }
      } finally {
        await adapter.close();
      }
      return 0;
    },
  };
}
