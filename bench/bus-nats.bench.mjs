// Bus over NATS JetStream: publish → consume throughput and end-to-end latency of @flotilla/bus
// with the bus-nats adapter, next to hand-written @nats-io/jetstream code doing the same durable
// work in the same run and server: a stream with interest retention, `js.publish` awaiting the
// PubAck with a `Nats-Msg-Id`, a durable pull consumer with explicit acks, and a confirmed ack
// (`ackAck`) after the handler — what the adapter does, without the bus around it.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Type } from '@sinclair/typebox';
import { createBus, defineMessage } from '../packages/bus/dist/index.js';
import { createNatsAdapter } from '../packages/bus-nats/dist/index.js';
import { createLogger, newId } from '../packages/core/dist/index.js';
import { PUBLISHERS, pingPong, throughput } from './bus-lib.mjs';
import { printTable, saveResults } from './lib.mjs';

const url = process.env.FLOTILLA_TEST_NATS_URL || 'nats://127.0.0.1:4222';
const MESSAGES = Number(process.env.BUS_BENCH_MESSAGES ?? 5000);
const CONCURRENCY = 16;
const PINGS = 300;
const ROUNDS = 2;
const logger = createLogger({ service: 'bench', level: 'error' });
const prefix = `bench_${process.pid}`;

async function flotillaSystem(round) {
  const Tick = defineMessage('bench.tick', Type.Object({ sentAt: Type.Number(), body: Type.String() }), {
    topic: `flotilla-${round}`,
  });
  const bus = await createBus({
    adapter: createNatsAdapter({ url, prefix, logger }),
    service: 'bench',
    logger,
  });
  const system = { onMessage: () => {} };
  await bus.subscribe(Tick, { concurrency: CONCURRENCY }, ({ payload }) => system.onMessage(payload.sentAt));
  system.publish = (sentAt) => bus.publish(Tick, { sentAt, body: 'x'.repeat(100) }, { key: 'k' });
  system.close = () => bus.close();
  return system;
}

async function rawSystem(round) {
  const nc = await connect({ servers: url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const stream = `${prefix}_raw-${round}`;
  const subject = `${prefix}.raw-${round}.m`;
  await jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Interest });
  await jsm.consumers.add(stream, {
    durable_name: 'bench',
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    max_deliver: -1,
  });
  const consumer = await js.consumers.get(stream, 'bench');
  const system = { onMessage: () => {} };
  let inFlight = 0;
  let running = true;
  let batch;
  let slotFreed = () => {};
  const loop = (async () => {
    while (running) {
      const free = CONCURRENCY - inFlight;
      if (free === 0) {
        await new Promise((resolve) => {
          slotFreed = resolve;
        });
        continue;
      }
      batch = await consumer.fetch({ max_messages: free, expires: 5000 });
      for await (const m of batch) {
        inFlight++;
        const body = m.json();
        Promise.resolve(system.onMessage(body.payload.sentAt))
          .then(() => m.ackAck())
          .catch(() => {})
          .finally(() => {
            inFlight--;
            slotFreed();
          });
      }
    }
  })();
  system.publish = (sentAt) =>
    js.publish(
      subject,
      JSON.stringify({
        envelope: { messageId: newId(), type: 'bench.tick', key: 'k' },
        payload: { sentAt, body: 'x'.repeat(100) },
      }),
      { msgID: newId() },
    );
  system.close = async () => {
    running = false;
    batch?.stop();
    slotFreed();
    await loop;
    while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await nc.close();
  };
  return system;
}

async function cleanup() {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  for await (const name of jsm.streams.names()) if (name.startsWith(prefix)) await jsm.streams.delete(name);
  await nc.close();
}

const rows = [];
try {
  // Alternate the two systems over the rounds and keep each one's best, to damp the noise of
  // the other core.
  const results = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, make] of [
      ['raw @nats-io/jetstream', rawSystem],
      ['@flotilla/bus + bus-nats', flotillaSystem],
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
  const raw = results['raw @nats-io/jetstream'];
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
console.log(`\nresults: ${saveResults('bus-nats', rows)}`);
