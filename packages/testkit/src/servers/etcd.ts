/**
 * etcd for tests: a unique key prefix per test; afterwards the whole prefix range is deleted.
 */
import { Etcd3 } from 'etcd3';
import { uniqueToken } from '../names.js';
import { PROBE_TIMEOUT_MS, type ProbeResult, probeOnce, reachableOrSkip, type SkipFn } from './probe.js';

export const DEFAULT_ETCD_URL = 'http://127.0.0.1:2379';

/** etcd URL from `FLOTILLA_TEST_ETCD_URL`, else the local server. */
export function etcdUrl(): string {
  return process.env.FLOTILLA_TEST_ETCD_URL || DEFAULT_ETCD_URL;
}

function client(url: string, timeoutMs: number): Etcd3 {
  return new Etcd3({
    hosts: url,
    dialTimeout: timeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
  });
}

/** Connects and reads one key; cached per process and URL. */
export function probeEtcd(url: string = etcdUrl()): Promise<ProbeResult> {
  return probeOnce('etcd', url, async (target) => {
    const etcd = client(target, PROBE_TIMEOUT_MS);
    try {
      await etcd.get('flotilla-testkit-probe').string();
    } finally {
      etcd.close();
    }
  });
}

/** An etcd key space of its own for one test. */
export interface EtcdFixture {
  readonly url: string;
  /** Unique key prefix (`t_<hex>/`); every key the test writes should start with it. */
  readonly prefix: string;
}

/** A test's key prefix plus the call that deletes its keys. */
export interface EtcdResource extends EtcdFixture {
  /** Deletes the key range `prefix…`. */
  release(): Promise<void>;
}

/** Deletes every key starting with `prefix`. */
export async function deleteEtcdPrefix(url: string, prefix: string): Promise<void> {
  const etcd = client(url, 10_000);
  try {
    await etcd.delete().prefix(prefix);
  } finally {
    etcd.close();
  }
}

/** Hands a test a unique key prefix. Skips through `skip` (or fails in required mode) when unreachable. */
export async function useEtcd(options: { skip?: SkipFn; url?: string } = {}): Promise<EtcdResource> {
  const url = reachableOrSkip('etcd', await probeEtcd(options.url), options.skip);
  const prefix = `${uniqueToken()}/`;
  return {
    url,
    prefix,
    release: () => deleteEtcdPrefix(url, prefix),
  };
}
