import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigServer, DirectorySource } from '@flotilla/config';
import { eventually, makeTempDir } from '@flotilla/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startTestGateway } from './fixtures/gateway.js';
import { quiet } from './fixtures/upstream.js';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function writeGatewayConfig(dir: string, routes: unknown): Promise<void> {
  const file = join(dir, 'gateway.yaml');
  await writeFile(`${file}.tmp`, stringify({ routes }));
  await rename(`${file}.tmp`, file);
}

const ping = (body: unknown) => [{ id: 'ping', match: { path: '/ping' }, static: { body } }];

describe('routes from the config server', () => {
  it('are served, follow pushed changes, and a bad change keeps the old routes', async () => {
    const dir = await makeTempDir('gateway-config');
    cleanup.push(() => dir.remove());
    await writeGatewayConfig(dir.dir, ping('one'));
    const server = new ConfigServer({
      sources: [new DirectorySource({ dir: dir.dir, debounceMs: 20 })],
      logger: quiet,
    });
    const configUrl = await server.listen({ port: 0, host: '127.0.0.1' });
    cleanup.push(() => server.close());
    const gw = await startTestGateway({
      configUrl,
    });
    cleanup.push(() => gw.close());

    expect(await (await fetch(`${gw.url}/ping`)).text()).toBe('one');
    await writeGatewayConfig(dir.dir, ping('two'));
    await eventually(async () => expect(await (await fetch(`${gw.url}/ping`)).text()).toBe('two'));

    await writeGatewayConfig(dir.dir, ping(42));
    const state = await eventually(async () => {
      const body = (await (await fetch(`${gw.adminUrl}/routes`)).json()) as {
        lastError: { message: string } | null;
      };
      expect(body.lastError).not.toBeNull();
      return body;
    });
    expect(state.lastError?.message).toContain('/routes/0/static/body');
    expect(await (await fetch(`${gw.url}/ping`)).text()).toBe('two');
  });
});
