// Bus over RabbitMQ: publish → consume throughput and end-to-end latency of @flotilla/bus with
// the bus-rabbitmq adapter, next to hand-written amqplib code doing the same durable work in the
// same run and broker: a durable fanout exchange and a durable quorum queue bound to it,
// persistent messages on a confirm channel (each publish awaits its confirm), a consumer with
// prefetch = concurrency and a manual ack after the handler — what the adapter does, without the
// bus around it.
import { Type } from '@sinclair/typebox';
import amqp from 'amqplib';
import { createBus, defineMessage } from '../packages/bus/dist/index.js';
import { createRabbitmqAdapter } from '../packages/bus-rabbitmq/dist/index.js';
import { createLogger, newId } from '../packages/core/dist/index.js';
import { PUBLISHERS, pingPong, throughput } from './bus-lib.mjs';
import { printTable, saveResults } from './lib.mjs';

const url = process.env.FLOTILLA_TEST_RABBITMQ_URL || 'amqp://guest:guest@127.0.0.1:5672';
const MESSAGES = Number(process.env.BUS_BENCH_MESSAGES ?? 5000);
const CONCURRENCY = 16;
const PINGS = 300;
const ROUNDS = 2;
const logger = createLogger({ service: 'bench', level: 'error' });
const prefix = `bench_${process.pid}`;

async function flotillaSystem(round) {
  const Tick = defineMessage('bench.tick', Type.Object({ sentAt: Type.Number(), body: Type.String() }), {
    topic: `${prefix}.flotilla-${round}`,
  });
  const bus = await createBus({ adapter: createRabbitmqAdapter({ url, logger }), service: 'bench', logger });
  const system = { onMessage: () => {} };
  await bus.subscribe(Tick, { concurrency: CONCURRENCY }, ({ payload }) => system.onMessage(payload.sentAt));
  system.publish = (sentAt) => bus.publish(Tick, { sentAt, body: 'x'.repeat(100) }, { key: 'k' });
  system.close = () => bus.close();
  return system;
}

async function rawSystem(round) {
  const exchange = `${prefix}.raw-${round}`;
  const queue = `${prefix}.raw-${round}:bench`;
  const connection = await amqp.connect(url, { noDelay: true });
  const publisher = await connection.createConfirmChannel();
  const consumer = await connection.createChannel();
  await publisher.assertExchange(exchange, 'fanout', { durable: true });
  await publisher.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await publisher.bindQueue(queue, exchange, '');
  await consumer.prefetch(CONCURRENCY);
  const system = { onMessage: () => {} };
  await consumer.consume(
    queue,
    (msg) => {
      if (msg === null) return;
      const body = JSON.parse(msg.content.toString('utf8'));
      Promise.resolve(system.onMessage(body.payload.sentAt)).then(() => consumer.ack(msg));
    },
    { noAck: false },
  );
  system.publish = (sentAt) =>
    new Promise((resolve, reject) => {
      const messageId = newId();
      const content = Buffer.from(
        JSON.stringify({
          envelope: { messageId, type: 'bench.tick', key: 'k' },
          payload: { sentAt, body: 'x'.repeat(100) },
        }),
      );
      publisher.publish(
        exchange,
        '',
        content,
        { persistent: true, messageId, contentType: 'application/json' },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  system.close = () => connection.close();
  return system;
}

async function cleanup() {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  for (let round = 0; round < ROUNDS; round++) {
    await channel.deleteQueue(`${prefix}.raw-${round}:bench`);
    await channel.deleteExchange(`${prefix}.raw-${round}`);
    await channel.deleteQueue(`flotilla.group.${prefix}.flotilla-${round}:bench`);
    await channel.deleteExchange(`flotilla.topic.${prefix}.flotilla-${round}`);
  }
  await channel.deleteQueue('flotilla.dead-letters', { ifEmpty: true }).catch(() => {});
  await connection.close().catch(() => {});
}

const rows = [];
try {
  // Alternate the two systems over the rounds and keep each one's best, to damp the noise of
  // the other core.
  const results = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, make] of [
      ['raw amqplib (confirms + acks)', rawSystem],
      ['@flotilla/bus + bus-rabbitmq', flotillaSystem],
    ]) {
      const system = await make(round);
      await throughput(system, 500); // warm-up
      const load = await throughput(system, MESSAGES);
      const idle = await pingPong(system, PINGS);
      await system.close();
      const best = results[name];
      results[name] = {
        load: best && best.load.perSecond > load.perSecond ? best.load : load,
        idle: best && best.idle.p50 < idle.p50 ? best.idle : idle,
      };
    }
  }
  const raw = results['raw amqplib (confirms + acks)'];
  for (const [name, { load, idle }] of Object.entries(results)) {
    rows.push({
      case: name,
      'msg/s': load.perSecond,
      'ratio msg/s': load.perSecond / raw.load.perSecond,
      'p50 ms (load)': load.p50,
      'p99 ms (load)': load.p99,
      'p50 ms (idle)': idle.p50,
      'p99 ms (idle)': idle.p99,
      'ratio p50 idle': idle.p50 / raw.idle.p50,
    });
  }
} finally {
  await cleanup();
}
console.log(
  `${MESSAGES} messages, ${PUBLISHERS} concurrent publishers, consumer concurrency ${CONCURRENCY}; idle = one at a time (${PINGS}); best of ${ROUNDS} alternating rounds\n`,
);
printTable(rows);
console.log(`\nresults: ${saveResults('bus-rabbitmq', rows)}`);
