import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

function capture() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
  });
  return { stream, lines };
}

describe('createLogger', () => {
  it('binds service and instance to every line', async () => {
    const { stream, lines } = capture();
    const log = createLogger({ service: 'catalog', instance: 'i-1', destination: stream });
    log.info({ title: 42 }, 'served');
    await new Promise((r) => setImmediate(r));
    expect(lines[0]).toMatchObject({
      service: 'catalog',
      instance: 'i-1',
      level: 'info',
      msg: 'served',
      title: 42,
    });
  });

  it('never writes secrets in clear text', async () => {
    const { stream, lines } = capture();
    const log = createLogger({ service: 'config', destination: stream });
    log.info({ password: 'hunter2', req: { headers: { authorization: 'Bearer abc' } } }, 'login');
    await new Promise((r) => setImmediate(r));
    const text = JSON.stringify(lines[0]);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('Bearer abc');
    expect(text).toContain('[redacted]');
  });

  it('passes every line through the censor, wherever a value appears', async () => {
    const { stream, lines } = capture();
    const log = createLogger({
      service: 'x',
      destination: stream,
      censor: (line) => line.replaceAll('s3cr3t-value', '[redacted]'),
    });
    log.info({ nested: { note: 'key=s3cr3t-value' } }, 'connecting with s3cr3t-value');
    await new Promise((r) => setImmediate(r));
    expect(JSON.stringify(lines[0])).not.toContain('s3cr3t-value');
    expect(lines[0]).toMatchObject({ msg: 'connecting with [redacted]', nested: { note: 'key=[redacted]' } });
  });

  it('honours the level', async () => {
    const { stream, lines } = capture();
    const log = createLogger({ service: 'x', level: 'warn', destination: stream });
    log.info('hidden');
    log.warn('shown');
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => l.msg)).toEqual(['shown']);
  });
});
