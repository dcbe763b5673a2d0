import { open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '@flotilla/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { captureLogs, eventually, writeAtomically, writeYaml } from '../../test-support.js';
import { configSourceConformance, type HarnessScope, nextChange } from './conformance.js';
import { DirectorySource, scopesOf } from './directory-source.js';

const fileName = (s: HarnessScope) =>
  `${s.service}${s.env === null ? '' : `-${s.env}`}${s.versions === null ? '' : `@${s.versions}`}.yaml`;

configSourceConformance('directory', async () => {
  const temp = await makeTempDir('config-dir');
  return {
    source: new DirectorySource({ dir: temp.dir, displayDir: 'config', debounceMs: 20 }),
    write: (scope, data) => writeAtomically(join(temp.dir, fileName(scope)), stringify(data)),
    remove: (scope) => rm(join(temp.dir, fileName(scope))),
    dispose: () => temp.remove(),
  };
});

describe('DirectorySource', () => {
  let dir: string;
  let remove: () => Promise<void>;
  let source: DirectorySource;

  beforeEach(async () => {
    const temp = await makeTempDir('config-dir');
    dir = temp.dir;
    remove = temp.remove;
  });

  afterEach(async () => {
    await source?.close();
    await remove();
  });

  it('reports invalid YAML with file and line and keeps serving the last good version', async () => {
    await writeYaml(dir, 'orders', { limit: 1 });
    const logs = captureLogs();
    source = new DirectorySource({ dir, displayDir: 'config', debounceMs: 20, logger: logs.logger });
    await source.start();

    const changed = nextChange(source);
    await writeAtomically(join(dir, 'orders.yaml'), 'limit: 2\nnested:\n  list: [1, 2\nother: x\n');
    await changed;
    const doc = source.snapshot().get('orders');
    expect(doc?.data).toEqual({ limit: 1 });
    expect(doc?.name).toBe('file:config/orders.yaml');
    expect(doc?.problem).toMatchObject({ line: 4, column: 1 });
    expect(doc?.problem?.message).toMatch(/Flow sequence/);
    expect(logs.text()).toContain('"file":"orders.yaml","line":4');

    const fixed = nextChange(source);
    await writeYaml(dir, 'orders', { limit: 3 });
    await fixed;
    expect(source.snapshot().get('orders')?.data).toEqual({ limit: 3 });
    expect(source.snapshot().get('orders')?.problem).toBeUndefined();
  });

  it('serves an empty layer with the problem for a file that was never valid', async () => {
    await writeFile(join(dir, 'orders.yaml'), '- just\n- a list\n');
    source = new DirectorySource({ dir, debounceMs: 20 });
    await source.start();
    const doc = source.snapshot().get('orders');
    expect(doc?.data).toEqual({});
    expect(doc?.problem).toMatchObject({
      message: 'the top level should be a mapping of keys to values',
      line: 1,
    });
  });

  it('never serves a half-written file: the partial content fails, the old value stays until it is complete', async () => {
    await writeYaml(dir, 'orders', { limits: { cpu: 1, memory: '1Gi' } });
    source = new DirectorySource({ dir, debounceMs: 20 });
    await source.start();
    const seen: unknown[] = [];
    source.onChange(() => seen.push(source.snapshot().get('orders')?.data));

    // A writer that stops mid-way (in the middle of a flow mapping), then finishes later.
    const handle = await open(join(dir, 'orders.yaml'), 'w');
    await handle.write('limits: {cpu: 2, mem');
    await eventually(() => expect(source.snapshot().get('orders')?.problem).toBeDefined());
    expect(source.snapshot().get('orders')?.data).toEqual({ limits: { cpu: 1, memory: '1Gi' } });

    await handle.write("ory: '2Gi'}\n");
    await handle.close();
    await eventually(() => expect(source.snapshot().get('orders')?.problem).toBeUndefined());
    expect(source.snapshot().get('orders')?.data).toEqual({ limits: { cpu: 2, memory: '2Gi' } });
    // Every snapshot ever taken had the old or the new content, never a mix.
    for (const data of seen) {
      expect([{ limits: { cpu: 1, memory: '1Gi' } }, { limits: { cpu: 2, memory: '2Gi' } }]).toContainEqual(
        data,
      );
    }
  });

  it('applies a temp-file-and-rename write as one change and ignores editor and temp files', async () => {
    await writeYaml(dir, 'orders', { a: 1 });
    source = new DirectorySource({ dir, debounceMs: 20 });
    await source.start();
    await writeFile(join(dir, '.orders.yaml.swp'), 'garbage: [');
    await writeFile(join(dir, 'orders.yaml~'), 'garbage: [');
    await writeFile(join(dir, 'orders.yaml.tmp'), 'a: 99\n');
    await source.refresh();
    expect(source.snapshot().documents.map((d) => d.layer)).toEqual(['orders']);

    const changed = nextChange(source);
    await writeAtomically(join(dir, 'orders.yaml'), 'a: 2\nb: 3\n');
    await changed;
    expect(source.snapshot().get('orders')?.data).toEqual({ a: 2, b: 3 });
  });

  it('refuses a version file whose range is not semver, naming the file', async () => {
    await writeFile(join(dir, 'orders@banana.yaml'), 'a: 1\n');
    source = new DirectorySource({ dir });
    await source.start();
    expect(source.snapshot().problems()[0]?.problem?.message).toBe(
      '"banana" in "orders@banana.yaml" is not a semver range',
    );
  });

  it('fails to start on a directory that does not exist', async () => {
    source = new DirectorySource({ dir: join(dir, 'missing') });
    await expect(source.start()).rejects.toThrow(/does not exist/);
  });
});

describe('scopesOf', () => {
  it('reads service-env file names using the known environments and services', () => {
    expect(
      scopesOf(['application', 'application-prod', 'order-service', 'order-service-prod', 'billing-dev']),
    ).toEqual([
      { service: 'application', env: null },
      { service: 'application', env: 'prod' },
      { service: 'billing-dev', env: null },
      { service: 'order-service', env: null },
      { service: 'order-service', env: 'prod' },
    ]);
  });
});
