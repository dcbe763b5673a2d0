/**
 * RabbitMQ for tests: a fresh vhost per test, made and removed through the management HTTP
 * API; without that API, the shared vhost plus a unique name prefix.
 */
import amqp from 'amqplib';
import { uniqueToken } from '../names.js';
import {
  describeError,
  PROBE_TIMEOUT_MS,
  type ProbeResult,
  probeOnce,
  reachableOrSkip,
  redactUrl,
  type SkipFn,
  warnOnce,
} from './probe.js';

export const DEFAULT_RABBITMQ_URL = 'amqp://guest:guest@127.0.0.1:5672';
export const DEFAULT_RABBITMQ_MANAGEMENT_URL = 'http://guest:guest@127.0.0.1:15672';

/** AMQP URL from `FLOTILLA_TEST_RABBITMQ_URL`, else the local broker. */
export function rabbitmqUrl(): string {
  return process.env.FLOTILLA_TEST_RABBITMQ_URL || DEFAULT_RABBITMQ_URL;
}

/** Management API URL from `FLOTILLA_TEST_RABBITMQ_MANAGEMENT_URL`, else the local plugin's. */
export function rabbitmqManagementUrl(): string {
  return process.env.FLOTILLA_TEST_RABBITMQ_MANAGEMENT_URL || DEFAULT_RABBITMQ_MANAGEMENT_URL;
}

/** Connects, opens and closes a channel; cached per process and URL. */
export function probeRabbitmq(url: string = rabbitmqUrl()): Promise<ProbeResult> {
  return probeOnce('rabbitmq', url, async (target) => {
    const connection = await amqp.connect(target, { timeout: PROBE_TIMEOUT_MS });
    connection.on('error', () => {});
    try {
      const channel = await connection.createChannel();
      await channel.close();
    } finally {
      await connection.close().catch(() => {});
    }
  });
}

/** A RabbitMQ namespace of its own for one test. */
export interface RabbitmqFixture {
  /** AMQP URL that selects the test's vhost. */
  readonly url: string;
  /** The test's vhost (`t_<hex>`), or the shared vhost when the management API is missing. */
  readonly vhost: string;
  /** Unique token to start queue and exchange names with. */
  readonly prefix: string;
}

/** A test's RabbitMQ namespace plus the call that removes it. */
export interface RabbitmqResource extends RabbitmqFixture {
  /** Deletes the test's vhost (and with it every queue and exchange in it). */
  release(): Promise<void>;
}

/** Client for the few management API calls the testkit needs. */
class ManagementApi {
  readonly #base: URL;
  readonly #authorization: string;

  constructor(url: string) {
    const parsed = new URL(url);
    const user = decodeURIComponent(parsed.username) || 'guest';
    const password = decodeURIComponent(parsed.password) || 'guest';
    // fetch refuses URLs with credentials, so they travel in the header.
    parsed.username = '';
    parsed.password = '';
    this.#base = parsed;
    this.#authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }

  async request(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<void> {
    const url = new URL(`api/${path}`, this.#base.href.endsWith('/') ? this.#base : `${this.#base.href}/`);
    const init: RequestInit = {
      method,
      headers: { authorization: this.#authorization, 'content-type': 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(url, init);
    const text = await response.text();
    if (!response.ok)
      throw new Error(`${method} ${url.pathname} answered ${response.status}: ${text.slice(0, 200)}`);
  }
}

const managementProbes = new Map<string, Promise<string | undefined>>();

/** Why the management API at `url` cannot be used, or undefined when it answers; cached. */
export function probeRabbitmqManagement(url: string = rabbitmqManagementUrl()): Promise<string | undefined> {
  let result = managementProbes.get(url);
  if (result === undefined) {
    result = new ManagementApi(url).request('GET', 'whoami', undefined, PROBE_TIMEOUT_MS).then(
      () => undefined,
      (error: unknown) => `RabbitMQ management API at ${redactUrl(url)} unusable: ${describeError(error)}`,
    );
    managementProbes.set(url, result);
  }
  return result;
}

function withVhost(amqpUrl: string, vhost: string): string {
  const url = new URL(amqpUrl);
  url.pathname = `/${encodeURIComponent(vhost)}`;
  return url.toString();
}

function vhostOf(amqpUrl: string): string {
  const path = new URL(amqpUrl).pathname;
  return path.length > 1 ? decodeURIComponent(path.slice(1)) : '/';
}

/**
 * Creates a vhost for a test (granting the AMQP user full permissions in it). Falls back to
 * the URL's vhost plus a unique prefix when the management API does not answer. Skips through
 * `skip` (or fails in required mode) when the broker is unreachable.
 */
export async function useRabbitmq(
  options: { skip?: SkipFn; url?: string; managementUrl?: string } = {},
): Promise<RabbitmqResource> {
  const url = reachableOrSkip('rabbitmq', await probeRabbitmq(options.url), options.skip);
  const prefix = uniqueToken();
  const managementUrl = options.managementUrl ?? rabbitmqManagementUrl();
  const unusable = await probeRabbitmqManagement(managementUrl);
  if (unusable !== undefined) {
    warnOnce(
      `rabbitmq management ${managementUrl}`,
      `[testkit] ${unusable}; RabbitMQ tests share vhost ${vhostOf(url)} and are kept apart by name prefixes only`,
    );
    return { url, vhost: vhostOf(url), prefix, release: async () => {} };
  }
  const api = new ManagementApi(managementUrl);
  const vhost = prefix;
  const user = decodeURIComponent(new URL(url).username) || 'guest';
  const path = `vhosts/${encodeURIComponent(vhost)}`;
  await api.request('PUT', path);
  try {
    await api.request('PUT', `permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(user)}`, {
      configure: '.*',
      write: '.*',
      read: '.*',
    });
  } catch (error) {
    await api.request('DELETE', path).catch(() => {});
    throw error;
  }
  return {
    url: withVhost(url, vhost),
    vhost,
    prefix,
    release: () => api.request('DELETE', path),
  };
}
