import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, makeTempDir } from '@flotilla/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestGateway } from './fixtures/gateway.js';
import type { RunningGateway } from './start.js';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const pingRoutes = (body: string) =>
  [
    'routes:',
    '  - id: ping',
    '    match: { path: /ping }',
    `    static: { body: ${JSON.stringify(body)} }`,
    '',
  ].join('\n');

async function start(): Promise<{ gw: RunningGateway; file: string }> {
  const dir = await makeTempDir('gateway-reload');
  cleanup.push(() => dir.remove());
  const file = join(dir.dir, 'routes.yaml');
  await writeFile(file, pingRoutes('one'));
  const gw = await startTestGateway({
    routesFile: file,
  });
  cleanup.push(() => gw.close());
  return { gw, file };
}

describe('hot reload from a routes file', () => {
  it('serves the new routes once the file changes, also when it is replaced by a rename', async () => {
    const { gw, file } = await start();
    expect(await (await fetch(`${gw.url}/ping`)).text()).toBe('one');
    await writeFile(file, pingRoutes('two'));
    await eventually(async () => expect(await (await fetch(`${gw.url}/ping`)).text()).toBe('two'));
    await writeFile(`${file}.tmp`, pingRoutes('three'));
    await rename(`${file}.tmp`, file);
    await eventually(async () => expect(await (await fetch(`${gw.url}/ping`)).text()).toBe('three'));
  });

  it('keeps the old routes when the new file is bad and reports why with the line', async () => {
    const { gw, file } = await start();
    await writeFile(
      file,
      ['routes:', '  - id: ping', '    match: { path: /ping }', '    static: { status: nope }', ''].join(
        '\n',
      ),
    );
    const state = await eventually(async () => {
      const body = (await (await fetch(`${gw.adminUrl}/routes`)).json()) as {
        lastError: { message: string } | null;
      };
      expect(body.lastError).not.toBeNull();
      return body;
    });
    expect(state.lastError?.message).toContain(
      'routes.yaml:4:23: /routes/0/static/status: Expected integer, got "nope"',
    );
    expect(await (await fetch(`${gw.url}/ping`)).text()).toBe('one');
    await writeFile(file, pingRoutes('fixed'));
    await eventually(async () => expect(await (await fetch(`${gw.url}/ping`)).text()).toBe('fixed'));
    expect(
      ((await (await fetch(`${gw.adminUrl}/routes`)).json()) as { lastError: unknown }).lastError,
    ).toBeNull();
  });

  it('replaces routes given in code through reload()', async () => {
    const { gw } = await start();
    await gw.reload([{ id: 'pong', match: { path: '/pong' }, static: { body: 'yes' } }]);
    expect(await (await fetch(`${gw.url}/pong`)).text()).toBe('yes');
    expect((await fetch(`${gw.url}/ping`)).status).toBe(404);
  });
});
