import { fileURLToPath } from 'node:url';
import { freePort, makeTempDir, test } from '@flotilla/testkit';
import pg from 'pg';
import { expect } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/flotilla.mjs', import.meta.url));

test('flotilla up runs embedded PostgreSQL, says what is not built yet, and stops on SIGTERM with 0', async ({
  processes,
}) => {
  const temp = await makeTempDir('up');
  try {
    const port = await freePort();
    const up = processes.spawn({
      name: 'flotilla up',
      command: process.execPath,
      args: [bin, 'up', '--data-dir', `${temp.dir}/pg`, '--port', String(port)],
      env: { DATABASE_URL: undefined },
    });
    const line = await up.waitForLine(/^PostgreSQL +postgres:\/\//, 90_000);
    await up.waitForLine('Flotilla is up');
    expect(up.output()).toContain('not yet built: registry');

    const url = /postgres:\/\/\S+/.exec(line)?.[0] ?? '';
    expect(url).toContain(`:${port}/`);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await client.end();

    expect(await up.stop({ signal: 'SIGTERM' })).toMatchObject({ code: 0, signal: null });
    expect(up.output()).toContain('Flotilla stopped.');
  } finally {
    await temp.remove();
  }
});
