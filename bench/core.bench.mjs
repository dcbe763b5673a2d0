// Core: id generation and the error wire round trip, next to what a user would otherwise call.
import { randomUUID } from 'node:crypto';
import { newId, restoreError, serializeError, TimeoutError } from '../packages/core/dist/index.js';
import { best, printTable, saveResults } from './lib.mjs';

const rows = [];
function compare(name, ours, baselineName, baseline) {
  rows.push({
    case: name,
    'flotilla ops/s': ours,
    alternative: baselineName,
    'alternative ops/s': baseline,
    ratio: ours / baseline,
  });
}

compare(
  'newId() — UUIDv7, time-sortable',
  await best(() => newId(), { iterations: 1_000_000 }),
  'crypto.randomUUID() — v4, unsorted',
  await best(() => randomUUID(), { iterations: 1_000_000 }),
);

const err = new TimeoutError('catalog took too long', { data: { ms: 2000 }, cause: new Error('socket') });
compare(
  'typed error JSON round trip (code, cause, class restored)',
  await best(() => restoreError(JSON.parse(JSON.stringify(serializeError(err)))), { iterations: 200_000 }),
  'plain Error: JSON of { name, message } + new Error (no code, no cause)',
  await best(
    () => {
      const json = JSON.parse(JSON.stringify({ name: err.name, message: err.message }));
      return Object.assign(new Error(json.message), json);
    },
    { iterations: 200_000 },
  ),
);

printTable(rows);
console.log(`\nresults: ${saveResults('core', rows)}`);
