import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManualClock } from '@flotilla/core';
import { makeTempDir } from '@flotilla/testkit';
import { describe, expect, it } from 'vitest';
import { storeConformance, testInstance } from './conformance.js';
import { MemoryStore } from './memory-store.js';

storeConformance('memory', async () => {
  const dir = await makeTempDir('registry-memory');
  const snapshotPath = join(dir.dir, 'registry.json');
  return {
    store: new MemoryStore({ snapshotPath }),
    another: () => new MemoryStore({ snapshotPath }),
    release: dir.remove,
  };
});

describe('MemoryStore', () => {
  it('saves a snapshot atomically and restores it with fresh leases', async () => {
    const dir = await makeTempDir('registry-memory');
    try {
      const path = join(dir.dir, 'nested', 'registry.json');
      const clock = new ManualClock(1_000_000);
      const store = new MemoryStore({ snapshotPath: path, clock });
      await store.open(() => {});
      await store.put(testInstance({ lastRenewedAt: 1_000_000 }), 'registered');
      await store.close();
      const saved = JSON.parse(await readFile(path, 'utf8'));
      expect(saved).toMatchObject({ format: 'flotilla-registry-snapshot', revision: 1 });

      clock.advance(600_000);
      const restored = new MemoryStore({ snapshotPath: path, clock });
      const snapshot = await restored.open(() => {});
      expect(snapshot.revision).toBe(1);
      expect(snapshot.instances[0]?.lastRenewedAt).toBe(1_600_000);
      // The change log did not survive: a watcher from before the restart gets a snapshot.
      expect(await restored.changesSince(0)).toBeUndefined();
      expect(await restored.changesSince(1)).toEqual([]);
      await restored.close();
    } finally {
      await dir.remove();
    }
  });

  it('starts a new epoch on every start without a snapshot file', async () => {
    const before = new MemoryStore();
    const first = await before.open(() => {});
    await before.put(testInstance(), 'registered');
    await before.close();
    const after = new MemoryStore();
    const second = await after.open(() => {});
    await after.put(testInstance(), 'registered');
    // Same revision, another history: only the epoch tells them apart.
    expect((await after.snapshot()).revision).toBe((await before.snapshot()).revision);
    expect(second.epoch).not.toBe(first.epoch);
    await after.close();
  });

  it('continues its epoch only from a snapshot saved at shutdown, not after a crash', async () => {
    const dir = await makeTempDir('registry-memory');
    const clock = new ManualClock(0);
    const path = join(dir.dir, 'registry.json');
    const open: MemoryStore[] = [];
    const start = async () => {
      const store = new MemoryStore({ snapshotPath: path, clock });
      open.push(store);
      return { store, snapshot: await store.open(() => {}) };
    };
    try {
      const first = await start();
      await first.store.put(testInstance({ instanceId: 'a' }), 'registered');
      await first.store.close();
      const restored = await start();
      expect(restored.snapshot.epoch).toBe(first.snapshot.epoch);

      // The restored store takes a change and dies before saving it: the file is behind what
      // watchers have seen, so the next start must not hand out the same revisions again.
      await restored.store.put(testInstance({ instanceId: 'b' }), 'registered');
      const afterCrash = await start();
      expect(afterCrash.snapshot.revision).toBe(1);
      expect(afterCrash.snapshot.epoch).not.toBe(first.snapshot.epoch);
    } finally {
      for (const store of open) await store.close();
      await dir.remove();
    }
  });

  it('saves changes periodically, not only on close', async () => {
    const dir = await makeTempDir('registry-memory');
    try {
      const path = join(dir.dir, 'registry.json');
      const clock = new ManualClock(0);
      const store = new MemoryStore({ snapshotPath: path, clock, snapshotIntervalMs: 1_000 });
      await store.open(() => {});
      await store.put(testInstance(), 'registered');
      clock.advance(1_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(JSON.parse(await readFile(path, 'utf8')).instances).toHaveLength(1);
      await store.close();
    } finally {
      await dir.remove();
    }
  });

  it('refuses a file that is not a snapshot, naming it', async () => {
    const dir = await makeTempDir('registry-memory');
    try {
      const path = join(dir.dir, 'registry.json');
      const { writeFile } = await import('node:fs/promises');
      await writeFile(path, '{ not json');
      await expect(new MemoryStore({ snapshotPath: path }).open(() => {})).rejects.toThrow(path);
    } finally {
      await dir.remove();
    }
  });

  it('forgets changes beyond its change log, so resumers get a snapshot', async () => {
    const store = new MemoryStore({ changeLogSize: 2 });
    await store.open(() => {});
    for (const id of ['a', 'b', 'c', 'd']) await store.put(testInstance({ instanceId: id }), 'registered');
    expect(await store.changesSince(1)).toBeUndefined();
    expect((await store.changesSince(2))?.map((c) => c.instance.instanceId)).toEqual(['c', 'd']);
  });
});
