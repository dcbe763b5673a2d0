/**
 * Shared machinery of the server probes: one short, real round trip per server and process,
 * a reason that names the URL and the error, and the skip-or-fail decision.
 */
import { UnavailableError } from '@flotilla/core';

/** The servers the testkit can hand to a test. */
export type ServerKind = 'postgres' | 'rabbitmq' | 'nats' | 'redis' | 'etcd';

/** Outcome of probing one server. */
export type ProbeResult = { ok: true; url: string } | { ok: false; reason: string };

/** Human names used in reasons and warnings. */
export const SERVER_LABELS: Readonly<Record<ServerKind, string>> = {
  postgres: 'PostgreSQL',
  rabbitmq: 'RabbitMQ',
  nats: 'NATS JetStream',
  redis: 'Redis',
  etcd: 'etcd',
};

/** Longest a probe may take; an unreachable server costs a test file at most this much. */
export const PROBE_TIMEOUT_MS = 2_000;

/** The env var that turns "skip when unreachable" into "fail when unreachable". */
export const REQUIRE_SERVICES_ENV = 'FLOTILLA_REQUIRE_SERVICES';

/** True when `FLOTILLA_REQUIRE_SERVICES` is set to `1` (or `true`): missing servers fail tests. */
export function servicesRequired(): boolean {
  const value = process.env[REQUIRE_SERVICES_ENV]?.trim().toLowerCase();
  return value === '1' || value === 'true';
}

/** The URL with its password replaced by `***`, fit for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/** A one-line description of a thrown value (with its cause), cut at `maxLength` characters. */
export function describeError(error: unknown, maxLength = 300): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    // Node reports a refused dual-stack connect as an AggregateError with an empty message.
    const inner = error.errors.map((e) => describeError(e, maxLength));
    return [...new Set(inner)].join('; ');
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const text = error.message
      .replace(/\s+/g, ' ')
      .replace(/ Resolution note: ?$/, '')
      .trim();
    const message =
      text.length > maxLength
        ? `${text.slice(0, maxLength)}…`
        : text || (typeof code === 'string' ? code : error.name);
    // fetch says only "fetch failed"; the reason is in its cause.
    return error.cause === undefined ? message : `${message}: ${describeError(error.cause, maxLength)}`;
  }
  return String(error);
}

/** Rejects with a "timed out after N ms" error when `promise` takes longer than `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const cache = new Map<string, Promise<ProbeResult>>();

/**
 * Runs `roundTrip` against `url` once per process (later calls share the result) and turns
 * its failure into a reason such as
 * `Redis at redis://127.0.0.1:6379 unreachable: connect ECONNREFUSED 127.0.0.1:6379`.
 */
export function probeOnce(
  kind: ServerKind,
  url: string,
  roundTrip: (url: string) => Promise<void>,
): Promise<ProbeResult> {
  const key = `${kind} ${url}`;
  let result = cache.get(key);
  if (result === undefined) {
    result = runProbe(kind, url, roundTrip);
    cache.set(key, result);
  }
  return result;
}

async function runProbe(
  kind: ServerKind,
  url: string,
  roundTrip: (url: string) => Promise<void>,
): Promise<ProbeResult> {
  try {
    await withTimeout(roundTrip(url), PROBE_TIMEOUT_MS, 'probe');
    return { ok: true, url };
  } catch (error) {
    return {
      ok: false,
      reason: `${SERVER_LABELS[kind]} at ${redactUrl(url)} unreachable: ${describeError(error)}`,
    };
  }
}

const warned = new Set<string>();

/** Prints `message` once per `key` and process, so a skipped file does not repeat itself. */
export function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  console.warn(message);
}

/** What a test does when its server is missing: the test context's `skip`. */
export type SkipFn = (note: string) => never;

/**
 * Deals with an unreachable server: throws with the reason in required mode, otherwise prints
 * the reason once per server and process and returns.
 */
export function reportUnreachable(kind: ServerKind, reason: string): void {
  if (servicesRequired()) {
    throw new UnavailableError(`${reason} (${REQUIRE_SERVICES_ENV}=1, so this is a failure)`, {
      code: 'TEST_SERVER_UNAVAILABLE',
      data: { server: kind },
    });
  }
  warnOnce(`skip ${kind}`, `[testkit] skipping tests that need ${SERVER_LABELS[kind]}: ${reason}`);
}

/**
 * Returns the URL of a reachable server. Otherwise fails (required mode) or skips the test
 * through `skip`; without `skip` (outside a test) it throws in both modes.
 */
export function reachableOrSkip(kind: ServerKind, probe: ProbeResult, skip?: SkipFn): string {
  if (probe.ok) return probe.url;
  reportUnreachable(kind, probe.reason);
  if (skip !== undefined) skip(probe.reason);
  throw new UnavailableError(probe.reason, { code: 'TEST_SERVER_UNAVAILABLE', data: { server: kind } });
}
