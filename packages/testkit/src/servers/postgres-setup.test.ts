import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { freePort } from '../ports.js';
import { postgresServerUrl, probePostgres } from './postgres.js';
import { choosePostgresForRun } from './postgres-setup.js';

async function selectOne(url: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.query('SELECT 1 AS one')).rows[0];
  } finally {
    await client.end().catch(() => {});
  }
}

describe('the PostgreSQL chosen for a test run', () => {
  it('is the configured server when it answers', async () => {
    const url = postgresServerUrl();
    const probe = await probePostgres(url);
    if (!probe.ok) return; // covered by the embedded case below
    const run = await choosePostgresForRun({
      configuredUrl: url,
      startEmbedded: () => Promise.reject(new Error('no')),
    });
    expect(run.provided).toEqual({ url });
  });

  it('is reported unreachable, not replaced, when the configured server does not answer', async () => {
    const url = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
    let started = false;
    const run = await choosePostgresForRun({
      configuredUrl: url,
      startEmbedded: async () => {
        started = true;
        return { url: 'postgres://unused', stop: async () => {} };
      },
    });
    expect(started).toBe(false);
    expect(run.provided).toEqual({
      reason: expect.stringMatching(/^PostgreSQL at .* unreachable: .*ECONNREFUSED/),
    });
  });

  it('is an embedded server when nothing was configured and the local one does not answer', async () => {
    const messages: string[] = [];
    const run = await choosePostgresForRun({
      configuredUrl: undefined,
      defaultUrl: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
      log: (message) => messages.push(message),
    });
    try {
      expect(run.provided).toEqual({ url: expect.stringMatching(/^postgres:\/\//), embedded: true });
      expect(await selectOne(run.provided.url!)).toEqual({ one: 1 });
      expect(messages).toEqual([expect.stringContaining('using embedded PostgreSQL at')]);
    } finally {
      await run.teardown();
    }
    await expect(selectOne(run.provided.url!)).rejects.toThrow(/ECONNREFUSED/);
  });
});
