import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePort } from './ports.js';
import { spawnProcess } from './process.js';

const here = dirname(fileURLToPath(import.meta.url));
const vitestBin = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');

/** Runs the unreachable-Redis fixture file in a vitest of its own. */
async function runFixture(
  env: Record<string, string | undefined>,
): Promise<{ code: number | null; output: string }> {
  const inherited: Record<string, undefined> = {};
  // The nested vitest must not think it is one of this run's workers.
  for (const key of Object.keys(process.env)) if (key.startsWith('VITEST')) inherited[key] = undefined;
  const run = spawnProcess({
    name: 'nested vitest',
    command: process.execPath,
    args: [vitestBin, 'run', '--config', join(here, 'fixtures', 'vitest.config.ts'), '--reporter', 'verbose'],
    env: { ...inherited, NO_COLOR: '1', FORCE_COLOR: undefined, ...env },
  });
  const exit = await run.exited;
  return { code: exit.code, output: run.output() };
}

describe('a test whose server is unreachable', () => {
  it('is skipped, with the reason printed, when services are not required', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const { code, output } = await runFixture({
      FLOTILLA_TEST_REDIS_URL: url,
      FLOTILLA_REQUIRE_SERVICES: undefined,
    });
    expect(code, output).toBe(0);
    expect(output).toMatch(/Tests\s+1 skipped \(1\)/);
    expect(output).toContain(`Redis at ${url} unreachable: connect ECONNREFUSED`);
  });

  it('fails, with the reason, when FLOTILLA_REQUIRE_SERVICES=1', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const { code, output } = await runFixture({
      FLOTILLA_TEST_REDIS_URL: url,
      FLOTILLA_REQUIRE_SERVICES: '1',
    });
    expect(code, output).not.toBe(0);
    expect(output).toMatch(/Tests\s+1 failed \(1\)/);
    expect(output).toContain(`Redis at ${url} unreachable: connect ECONNREFUSED`);
    expect(output).toContain('FLOTILLA_REQUIRE_SERVICES=1');
  });
});
