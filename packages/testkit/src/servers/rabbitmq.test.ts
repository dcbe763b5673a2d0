import amqp from 'amqplib';
import { describe, expect } from 'vitest';
import { test } from '../fixtures.js';
import { freePort } from '../ports.js';
import { probeRabbitmqManagement, rabbitmqManagementUrl, useRabbitmq } from './rabbitmq.js';

async function roundTrip(url: string, queue: string): Promise<string> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    await channel.assertQueue(queue, { durable: false });
    channel.sendToQueue(queue, Buffer.from('hello'));
    const body = await new Promise<string>((resolve) => {
      void channel.consume(queue, (message) => {
        if (message === null) return;
        channel.ack(message);
        resolve(message.content.toString());
      });
    });
    await channel.close();
    return body;
  } finally {
    await connection.close();
  }
}

async function vhostExists(vhost: string): Promise<boolean> {
  const api = new URL(rabbitmqManagementUrl());
  const authorization = `Basic ${Buffer.from(`${api.username}:${api.password}`).toString('base64')}`;
  const response = await fetch(`${api.origin}/api/vhosts/${encodeURIComponent(vhost)}`, {
    headers: { authorization },
  });
  await response.body?.cancel();
  return response.ok;
}

describe('rabbitmq fixture', () => {
  test('publishes and consumes a message in the test namespace', async ({ rabbitmq }) => {
    expect(rabbitmq.prefix).toMatch(/^t_[0-9a-f]{12}$/);
    expect(await roundTrip(rabbitmq.url, `${rabbitmq.prefix}.greetings`)).toBe('hello');
  });

  test('gives each test its own vhost and deletes it afterwards', async ({ rabbitmq, skip }) => {
    if ((await probeRabbitmqManagement()) !== undefined) skip('the RabbitMQ management API is not enabled');
    expect(rabbitmq.vhost).toBe(rabbitmq.prefix);
    const other = await useRabbitmq();
    expect(other.vhost).not.toBe(rabbitmq.vhost);
    await roundTrip(other.url, 'shared-name');
    await other.release();
    expect(await vhostExists(other.vhost)).toBe(false);
    expect(await vhostExists(rabbitmq.vhost)).toBe(true);
  });

  test('falls back to the shared vhost and a name prefix without the management API', async ({
    rabbitmq: _needsBroker,
  }) => {
    const fallback = await useRabbitmq({ managementUrl: `http://guest:guest@127.0.0.1:${await freePort()}` });
    expect(fallback.vhost).toBe('/');
    expect(await roundTrip(fallback.url, `${fallback.prefix}.fallback`)).toBe('hello');
    await fallback.release();
  });
});
