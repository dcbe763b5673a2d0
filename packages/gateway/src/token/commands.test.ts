import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { type CommandIO, UsageError } from '@flotilla/core';
import { freePort, makeTempDir, type TempDir } from '@flotilla/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JwtVerifier } from '../auth/jwt.js';
import { issuerCommand, tokenCommand } from './commands.js';

/** A CommandIO whose output the test reads. */
function captureIO(cwd: string) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  stderr.resume();
  const io: CommandIO = { stdout, stderr, env: {}, cwd };
  return { io, output: () => out };
}

/** Resolves once `predicate` holds, checking as output arrives. */
async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((r) => setImmediate(r));
}

let dir: TempDir;
beforeEach(async () => {
  dir = await makeTempDir('token-cli');
});
afterEach(() => dir.remove());

describe('flotilla token', () => {
  it('prints a token that verifies against the JWKS served by flotilla issuer', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const token = captureIO(dir.dir);
    const code = await tokenCommand.run(
      {
        values: { sub: 'alice', scope: 'play:read', ttl: '10m', claim: ['tenant=acme'], issuer: url },
        positionals: [],
      },
      token.io,
    );
    expect(code).toBe(0);
    const jwt = token.output().trim();
    expect(jwt).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    // The issuer started afterwards finds the key `flotilla token` created in the same data dir.
    const before = runnerListeners();
    const server = captureIO(dir.dir);
    const running = issuerCommand.run({ values: { port: String(port) }, positionals: [] }, server.io);
    try {
      await until(() => server.output().includes('issuer listening'));
      const verifier = new JwtVerifier({
        issuer: url,
        audience: 'flotilla',
        jwksUrl: `${url}/.well-known/jwks.json`,
        scopes: ['play:read'],
      });
      expect(await verifier.verify(jwt)).toMatchObject({
        ok: true,
        claims: { sub: 'alice', scope: 'play:read', tenant: 'acme', iss: url },
      });
    } finally {
      stopWithSigterm(before);
    }
    expect(await running).toBe(0);
    expect(server.output()).toContain('issuer stopping');
  });

  it('refuses to run without --sub, or with a malformed --claim or --ttl', async () => {
    const { io } = captureIO(dir.dir);
    const run = (values: Record<string, string | string[]>) =>
      tokenCommand.run({ values, positionals: [] }, io);
    await expect(run({})).rejects.toThrow(new UsageError('--sub is required, e.g. --sub alice'));
    await expect(run({ sub: 'a', claim: ['tenant'] })).rejects.toThrow(
      '--claim should be name=value, got "tenant"',
    );
    await expect(run({ sub: 'a', ttl: 'forever' })).rejects.toBeInstanceOf(UsageError);
  });
});

describe('flotilla issuer', () => {
  it('issues client-credentials tokens to the clients of a YAML file, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    await writeFile(
      join(dir.dir, 'clients.yaml'),
      'clients:\n  - clientId: billing\n    secret: s3cret\n    scopes: [invoice:read]\n',
    );
    const before = runnerListeners();
    const server = captureIO(dir.dir);
    const running = issuerCommand.run(
      { values: { port: String(port), clients: 'clients.yaml', 'data-dir': 'keys' }, positionals: [] },
      server.io,
    );
    try {
      await until(() => server.output().includes('issuer listening'));
      const res = await fetch(`http://127.0.0.1:${port}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&client_id=billing&client_secret=s3cret',
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ token_type: 'Bearer', scope: 'invoice:read' });
    } finally {
      stopWithSigterm(before);
    }
    expect(await running).toBe(0);
  });

  it('refuses a clients file that does not validate, naming the field', async () => {
    await writeFile(join(dir.dir, 'clients.json'), JSON.stringify([{ clientId: 'x', scopes: [] }]));
    const before = runnerListeners();
    const { io } = captureIO(dir.dir);
    try {
      await expect(
        issuerCommand.run(
          { values: { port: String(await freePort()), clients: 'clients.json' }, positionals: [] },
          io,
        ),
      ).rejects.toThrow(/clients\.json/);
    } finally {
      stopWithSigterm(before);
    }
  });
});

/**
 * Delivers SIGTERM to the command's handler only: the test runner's own listeners are set
 * aside meanwhile, and the "second signal kills" listeners the handler leaves are removed.
 */
function stopWithSigterm(before: Map<NodeJS.Signals, NodeJS.SignalsListener[]>): void {
  const runner = before.get('SIGTERM') ?? [];
  for (const l of runner) process.off('SIGTERM', l);
  process.emit('SIGTERM', 'SIGTERM');
  for (const [signal, listeners] of before) {
    for (const l of process.listeners(signal)) if (!listeners.includes(l)) process.off(signal, l);
  }
  for (const l of runner) process.on('SIGTERM', l);
}

/** The SIGTERM and SIGINT listeners present now (the test runner's). */
function runnerListeners(): Map<NodeJS.Signals, NodeJS.SignalsListener[]> {
  return new Map((['SIGTERM', 'SIGINT'] as const).map((s) => [s, process.listeners(s)]));
}
