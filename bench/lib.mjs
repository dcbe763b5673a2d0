// Small helpers shared by the benchmarks: timing loops, tables and result files.
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Runs `fn` `iterations` times after a warm-up; returns operations per second. */
export async function opsPerSecond(
  fn,
  { iterations = 1_000_000, warmup = iterations / 10, async = false } = {},
) {
  if (async) {
    for (let i = 0; i < warmup; i++) await fn();
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn();
    return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
  }
  for (let i = 0; i < warmup; i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Best of `rounds` runs, to damp noise from the other core. */
export async function best(fn, options, rounds = 3) {
  let top = 0;
  for (let r = 0; r < rounds; r++) top = Math.max(top, await opsPerSecond(fn, options));
  return top;
}

/** The median of numbers (the mean of the two middle ones for an even count); undefined for none. */
export function median(xs) {
  if (xs.length === 0) return undefined;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The middle item by `key` (of an even count, the lower of the two middle ones: one real run, not a blend). */
export function middleBy(items, key) {
  return [...items].sort((a, b) => key(a) - key(b))[(items.length - 1) >> 1];
}

/** Prints rows `{ name, opsPerSec, ...ratios }` as a Markdown table. */
export function printTable(rows, columns) {
  const cols = columns ?? Object.keys(rows[0] ?? {});
  const fmt = (v) =>
    typeof v === 'number'
      ? v >= 100
        ? Math.round(v).toLocaleString('en-US')
        : v.toFixed(2)
      : String(v ?? '');
  console.log(`| ${cols.join(' | ')} |`);
  console.log(`| ${cols.map(() => '---').join(' | ')} |`);
  for (const row of rows) console.log(`| ${cols.map((c) => fmt(row[c])).join(' | ')} |`);
}

/** Writes `bench/results/<name>.json` with the machine context. */
export function saveResults(name, results) {
  const file = join(here, 'results', `${name}.json`);
  const doc = {
    node: process.version,
    cpus: (globalThis.navigator?.hardwareConcurrency ?? 0) || undefined,
    date: new Date().toISOString(),
    results,
  };
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  return relative(process.cwd(), file);
}

const JSON_BODY = JSON.stringify({ id: 42, title: 'The Flotilla', tags: ['a', 'b'] });

/** A node:http upstream answering a small JSON body after `delayMs` (0: at once); resolves with its port. */
export async function listenJsonUpstream(delayMs) {
  const server = createServer((_req, res) => {
    const answer = () => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(JSON_BODY),
      });
      res.end(JSON_BODY);
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
  server.keepAliveTimeout = 65_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address().port;
}
