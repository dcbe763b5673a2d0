/**
 * NATS JetStream for tests: a unique prefix per test for stream, bucket and subject names;
 * afterwards every stream (and KV / object store bucket) named with it is deleted.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { uniqueToken } from '../names.js';
import { PROBE_TIMEOUT_MS, type ProbeResult, probeOnce, reachableOrSkip, type SkipFn } from './probe.js';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** NATS URL from `FLOTILLA_TEST_NATS_URL`, else the local server. */
export function natsUrl(): string {
  return process.env.FLOTILLA_TEST_NATS_URL || DEFAULT_NATS_URL;
}

/** Connects and asks JetStream for the account info, so a server without JetStream fails too. */
export function probeNats(url: string = natsUrl()): Promise<ProbeResult> {
  return probeOnce('nats', url, async (target) => {
    const nc = await connect({ servers: target, timeout: PROBE_TIMEOUT_MS, reconnect: false });
    try {
      const jsm = await jetstreamManager(nc, { timeout: PROBE_TIMEOUT_MS });
      await jsm.getAccountInfo();
    } finally {
      await nc.close().catch(() => {});
    }
  });
}

/** A NATS namespace of its own for one test. */
export interface NatsFixture {
  readonly url: string;
  /**
   * Unique token (`t_<hex>`) to start stream names, bucket names and subjects with, e.g.
   * stream `${prefix}_orders` on subjects `${prefix}.orders.>`.
   */
  readonly prefix: string;
}

/** A test's NATS namespace plus the call that removes what it left. */
export interface NatsResource extends NatsFixture {
  /** Deletes the streams named `prefix…`, `KV_prefix…` and `OBJ_prefix…`. */
  release(): Promise<void>;
}

/** Deletes every JetStream stream whose name starts with `prefix` (including KV/object buckets). */
export async function deleteNatsStreams(url: string, prefix: string): Promise<string[]> {
  const nc = await connect({ servers: url, timeout: 10_000, reconnect: false });
  try {
    const jsm = await jetstreamManager(nc);
    const owned = [prefix, `KV_${prefix}`, `OBJ_${prefix}`];
    const deleted: string[] = [];
    for await (const name of jsm.streams.names()) {
      if (owned.some((p) => name.startsWith(p))) {
        await jsm.streams.delete(name);
        deleted.push(name);
      }
    }
    return deleted;
  } finally {
    await nc.close().catch(() => {});
  }
}

/** Hands a test a unique prefix. Skips through `skip` (or fails in required mode) when unreachable. */
export async function useNats(options: { skip?: SkipFn; url?: string } = {}): Promise<NatsResource> {
  const url = reachableOrSkip('nats', await probeNats(options.url), options.skip);
  const prefix = uniqueToken();
  return {
    url,
    prefix,
    release: async () => {
      await deleteNatsStreams(url, prefix);
    },
  };
}
