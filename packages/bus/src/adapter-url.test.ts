import { describe, expect, it } from 'vitest';
import { adapterFromUrl, loadFactory, schemeOf } from './adapter-url.js';

// The adapter packages are not dependencies of @flotilla/bus; in this workspace they are
// installed, as they would be next to a service that uses them. Adapters are created, never
// connected, so no server is needed.
describe('adapterFromUrl', () => {
  it.each([
    ['postgres://u:p@127.0.0.1:5432/bus', 'postgres'],
    ['postgresql://127.0.0.1/bus', 'postgres'],
    ['amqp://guest:guest@127.0.0.1:5672', 'rabbitmq'],
    ['amqps://127.0.0.1', 'rabbitmq'],
    ['nats://127.0.0.1:4222', 'nats'],
    ['redis://127.0.0.1:6379', 'redis'],
    ['rediss://127.0.0.1:6380', 'redis'],
  ])('picks the adapter of %s by its scheme', async (url, name) => {
    const adapter = await adapterFromUrl(url);
    expect(adapter.name).toBe(name);
    await adapter.close();
  });

  it('names a scheme no adapter serves', async () => {
    await expect(adapterFromUrl('kafka://127.0.0.1:9092')).rejects.toMatchObject({
      code: 'INVALID_CONFIGURATION',
      message: expect.stringContaining('"kafka:" scheme'),
    });
    await expect(adapterFromUrl('127.0.0.1:5672')).rejects.toThrow('a URL without a scheme');
  });

  it('says which package to install when the adapter is missing', async () => {
    await expect(
      loadFactory('kafka', { pkg: '@flotilla/bus-kafka', factory: 'createKafkaAdapter' }),
    ).rejects.toMatchObject({
      code: 'INVALID_CONFIGURATION',
      message: 'A kafka:// bus URL needs @flotilla/bus-kafka: install it (npm install @flotilla/bus-kafka)',
      data: { package: '@flotilla/bus-kafka', missing: true },
    });
  });

  it('hands a prefix to the adapters that namespace by one and refuses it elsewhere', async () => {
    const nats = await adapterFromUrl('nats://127.0.0.1:4222', { prefix: 'tenant_a' });
    expect((nats as unknown as { names: { prefix: string } }).names.prefix).toBe('tenant_a');
    const redis = await adapterFromUrl('redis://127.0.0.1:6379', { prefix: 'tenant-a:' });
    expect((redis as unknown as { keys: { prefix: string } }).keys.prefix).toBe('tenant-a:');
    await expect(adapterFromUrl('amqp://127.0.0.1', { prefix: 'tenant-a' })).rejects.toMatchObject({
      data: { field: 'prefix', value: 'tenant-a' },
    });
    await Promise.all([nats.close(), redis.close()]);
  });

  it('reads the scheme case-insensitively', () => {
    expect(schemeOf('AMQP://host')).toBe('amqp');
    expect(schemeOf('no-scheme')).toBe('');
  });
});
