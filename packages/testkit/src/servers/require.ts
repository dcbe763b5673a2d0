/**
 * Server availability for suites that set up in `beforeAll` instead of using fixtures.
 */
import { probeEtcd } from './etcd.js';
import { probeNats } from './nats.js';
import { probePostgres } from './postgres.js';
import { type ProbeResult, reportUnreachable, type ServerKind } from './probe.js';
import { probeRabbitmq } from './rabbitmq.js';
import { probeRedis } from './redis.js';

const probes: Readonly<Record<ServerKind, () => Promise<ProbeResult>>> = {
  postgres: () => probePostgres(),
  rabbitmq: () => probeRabbitmq(),
  nats: () => probeNats(),
  redis: () => probeRedis(),
  etcd: () => probeEtcd(),
};

/** Probes the configured server of `kind` (cached per process). */
export function probeServer(kind: ServerKind): Promise<ProbeResult> {
  return probes[kind]();
}

/**
 * Probes the server; when it is unreachable, throws in required mode and otherwise prints the
 * reason and returns the failed result, for `describe.skipIf(!result.ok)`.
 */
export async function requireServer(kind: ServerKind): Promise<ProbeResult> {
  const result = await probeServer(kind);
  if (!result.ok) reportUnreachable(kind, result.reason);
  return result;
}
