import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const src = fileURLToPath(new URL('..', import.meta.url));
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g;

/** Every module the client entry loads, following relative imports from the source. */
function graph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = (match[1] ?? match[2]) as string;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

it('the client entry never loads fastify, pg, yaml, prom-client or the server code', () => {
  const { files, packages } = graph(join(src, 'client/index.ts'));
  const outside = [...packages].filter(
    (p) =>
      !p.startsWith('node:') &&
      !['@flotilla/core', '@sinclair/typebox', '@sinclair/typebox/value'].includes(p),
  );
  expect(outside).toEqual([]);
  expect([...files].map((f) => relative(src, f)).filter((f) => f.startsWith('server/'))).toEqual([]);
});
