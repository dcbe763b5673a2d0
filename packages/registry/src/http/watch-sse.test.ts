import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogger, until } from '../fixtures/helpers.js';
import { connectSse, type SseConnection, type SseEvent } from '../fixtures/sse-client.js';
import { type RunningRegistry, startRegistry } from '../start.js';
import { MemoryStore } from '../stores/memory-store.js';

let registry: RunningRegistry;
const open: SseConnection[] = [];

beforeAll(async () => {
  registry = await startRegistry({ port: 0, host: '127.0.0.1', logger: captureLogger().logger });
});
afterAll(async () => {
  for (const c of open) c.close();
  await registry.close();
});

async function watch(path = '/v1/watch', headers: Record<string, string> = {}, on = registry) {
  const connection = await connectSse(`${on.url}${path}`, headers);
  open.push(connection);
  return connection;
}

function post(service: string, id: string, on = registry) {
  return fetch(`${on.url}/v1/services/${service}/instances`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instanceId: id, host: '10.0.0.1', port: 8080 }),
  });
}

const data = (e: SseEvent) => JSON.parse(e.data);
/** The revision an event id (`<epoch>:<revision>`) stands for. */
const revisionOf = (e: SseEvent) => Number(e.id?.split(':')[1]);
const is = (event: string, id?: string) => (e: SseEvent) =>
  e.event === event && (id === undefined || data(e).instance?.instanceId === id);

describe('watch stream', () => {
  it('starts with a snapshot, then pushes a registration and a deregistration', async () => {
    await post('search', 'old-1');
    const watcher = await watch();
    const snapshot = data(await watcher.next(is('snapshot')));
    expect(snapshot.instances.map((i: { instanceId: string }) => i.instanceId)).toContain('old-1');
    expect(snapshot.selfPreservation).toMatchObject({ engaged: false });

    await post('search', 'new-1');
    const registered = await watcher.next(is('registered', 'new-1'));
    expect(registered.id).toBe(`${registry.registry.epoch}:${revisionOf(registered)}`);
    expect(revisionOf(registered)).toBeGreaterThan(snapshot.revision);
    expect(data(registered)).toMatchObject({
      type: 'registered',
      revision: revisionOf(registered),
      instance: { service: 'search', status: 'UP' },
    });

    await fetch(`${registry.url}/v1/services/search/instances/new-1`, { method: 'DELETE' });
    expect(data(await watcher.next(is('deregistered', 'new-1'))).instance.instanceId).toBe('new-1');
  });

  it('shows only the services asked for', async () => {
    const watcher = await watch('/v1/watch?service=alpha&service=beta');
    await watcher.next(is('snapshot'));
    await post('gamma', 'g-1');
    await post('beta', 'b-1');
    await watcher.next(is('registered', 'b-1'));
    expect(watcher.events.some(is('registered', 'g-1'))).toBe(false);
  });

  it('resumes with Last-Event-ID: exactly the missed changes, in order, then live', async () => {
    const first = await watch('/v1/watch?service=resume');
    await first.next(is('snapshot'));
    await post('resume', 'r-1');
    await first.next(is('registered', 'r-1'));
    const lastEventId = first.lastEventId ?? '';
    first.close();

    await post('resume', 'r-2');
    await fetch(`${registry.url}/v1/services/resume/instances/r-1/status-override`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'OUT_OF_SERVICE' }),
    });
    await fetch(`${registry.url}/v1/services/resume/instances/r-2`, { method: 'DELETE' });
    await post('elsewhere', 'e-1');

    const second = await watch('/v1/watch?service=resume', { 'last-event-id': lastEventId });
    await second.next(is('deregistered', 'r-2'));
    await post('resume', 'r-3');
    await second.next(is('registered', 'r-3'));
    expect(second.events.map((e) => [e.event, data(e).instance?.instanceId])).toEqual([
      ['registered', 'r-2'],
      ['updated', 'r-1'],
      ['deregistered', 'r-2'],
      ['registered', 'r-3'],
    ]);
    const ids = second.events.map(revisionOf);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(ids[0]).toBeGreaterThan(Number(lastEventId.split(':')[1]));
  });

  it('sends a snapshot when the changes after Last-Event-ID are gone or unknown', async () => {
    const small = await startRegistry({
      port: 0,
      host: '127.0.0.1',
      store: new MemoryStore({ changeLogSize: 2 }),
      logger: captureLogger().logger,
    });
    try {
      for (const id of ['a', 'b', 'c', 'd']) await post('old', id, small);
      const epoch = small.registry.epoch;
      // Pruned, ahead of the registry, another epoch, a bare (pre-epoch) revision, garbage.
      for (const lastId of [`${epoch}:1`, `${epoch}:999999`, 'another-epoch:3', '3', 'garbage']) {
        const watcher = await watch('/v1/watch', { 'last-event-id': lastId }, small);
        const first = await watcher.next(() => true);
        expect(first.event).toBe('snapshot');
        expect(data(first).instances).toHaveLength(4);
        watcher.close();
      }
      // Still within the log: the missed changes, no snapshot.
      const recent = await watch(`/v1/watch?since=${epoch}:2`, {}, small);
      await recent.next(is('registered', 'd'));
      expect(recent.events.map((e) => e.event)).toEqual(['registered', 'registered']);
    } finally {
      await small.close();
    }
  });

  it('watches on from a listing with its eventId as ?since=, without a second snapshot', async () => {
    await post('listed', 'l-1');
    const listing = (await (await fetch(`${registry.url}/v1/services/listed/instances`)).json()) as {
      revision: number;
      eventId: string;
    };
    expect(listing.eventId).toBe(`${registry.registry.epoch}:${listing.revision}`);
    await post('listed', 'l-2');
    const watcher = await watch(`/v1/watch?service=listed&since=${encodeURIComponent(listing.eventId)}`);
    await watcher.next(is('registered', 'l-2'));
    expect(watcher.events.map((e) => e.event)).toEqual(['registered']);
  });

  it('sends a snapshot to a watcher resuming with an id from before a memory registry restarted', async () => {
    const before = await startRegistry({ port: 0, host: '127.0.0.1', logger: captureLogger().logger });
    let lastEventId: string;
    try {
      const watcher = await watch('/v1/watch', {}, before);
      await watcher.next(is('snapshot'));
      for (const id of ['a', 'b']) await post('old', id, before);
      await watcher.next(is('registered', 'b'));
      lastEventId = watcher.lastEventId ?? '';
      watcher.close();
    } finally {
      await before.close();
    }
    // No snapshot file: the new process numbers its changes from the start again, and its
    // revisions reach (then pass) the old id with changes the watcher never saw.
    const after = await startRegistry({ port: 0, host: '127.0.0.1', logger: captureLogger().logger });
    try {
      for (const id of ['x', 'y']) await post('new', id, after);
      const resumed = await watch('/v1/watch', { 'last-event-id': lastEventId }, after);
      await post('new', 'z', after);
      const first = await resumed.next(() => true);
      expect(first.event).toBe('snapshot');
      expect(data(first).instances.map((i: { instanceId: string }) => i.instanceId)).toEqual(['x', 'y']);
      await resumed.next(is('registered', 'z'));
    } finally {
      await after.close();
    }
  });

  it('counts watchers and ends their streams when the server stops', async () => {
    const own = await startRegistry({ port: 0, host: '127.0.0.1', logger: captureLogger().logger });
    const a = await watch('/v1/watch', {}, own);
    await a.next(is('snapshot'));
    await until(() => own.hub.size === 1);
    const metrics = await (await fetch(`${own.url}/metrics`)).text();
    expect(metrics).toContain('flotilla_registry_watchers 1');
    await own.close();
    expect(own.hub.size).toBe(0);
  });
});
