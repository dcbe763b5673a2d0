import { eventually } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_NAMES } from './services/index.js';
import { as, call } from './testing/http.js';
import { type StreamingSystem, startStreaming } from './testing/system.js';

const STRANGER_THINGS = 'tt4574334';
const BREAKING_BAD = 'tt0903747';
/** `generic.trending` of config/recommendations.yaml. */
const GENERIC = ['tt0903747', 'tt0816692', 'tt4574334', 'tt0133093'];

interface Row {
  source: string;
  titles: { titleId: string; plays?: number; positionSeconds?: number }[];
  code?: string;
}

let system: StreamingSystem;
beforeAll(async () => {
  system = await startStreaming(SERVICE_NAMES);
});
afterAll(async () => {
  await system?.close();
});

const play = async (user: string, titleId: string) => {
  const { status } = await call(`${system.url('play-api')}/play`, {
    method: 'POST',
    headers: as(user),
    body: { titleId, device: 'web', network: 'wifi' },
  });
  expect(status).toBe(200);
};

const trending = () => call<Row>(`${system.url('recommendations')}/trending`);

describe('viewing events and recommendations', () => {
  it('turns plays into "trending now" through the bus and the stream processor', async () => {
    const before = await trending();
    expect(before.body).toEqual({ source: 'fallback', titles: GENERIC.map((titleId) => ({ titleId })) });

    await play('alice', STRANGER_THINGS);
    await play('bob', STRANGER_THINGS);
    await play('alice', BREAKING_BAD);
    await play('dave', STRANGER_THINGS);

    await eventually(async () => {
      const { body } = await trending();
      expect(body).toEqual({
        source: 'viewing-stats',
        titles: [
          { titleId: STRANGER_THINGS, plays: 3 },
          { titleId: BREAKING_BAD, plays: 1 },
        ],
      });
    });
  });

  it('lists what a user started under "continue watching", newest first, and needs a user', async () => {
    await call(`${system.url('bookmarks')}/bookmarks/alice/${STRANGER_THINGS}`, {
      method: 'PUT',
      body: { positionSeconds: 600 },
    });
    await play('alice', STRANGER_THINGS);
    await eventually(async () => {
      const { body } = await call<Row>(`${system.url('recommendations')}/continue-watching`, {
        headers: as('alice'),
      });
      expect(body).toEqual({
        source: 'viewing-stats',
        titles: [
          { titleId: STRANGER_THINGS, positionSeconds: 600 },
          { titleId: BREAKING_BAD, positionSeconds: 0 },
        ],
      });
    });
    const anonymous = await call<Row>(`${system.url('recommendations')}/continue-watching`);
    expect(anonymous.status).toBe(401);
  });

  it('serves the generic list while viewing-stats is down', async () => {
    await system.stop('viewing-stats');
    const { status, body } = await trending();
    expect(status).toBe(200);
    expect(body).toEqual({ source: 'fallback', titles: GENERIC.map((titleId) => ({ titleId })) });
    // Plays go on meanwhile; their events wait in viewing-stats' queue for its return.
    await play('bob', BREAKING_BAD);
  });
});
