export { type EventuallyOptions, eventually } from './eventually.js';
export { it, type TestkitFixtures, test, trackProcesses } from './fixtures.js';
export { freePort, freePorts, isPortFree } from './ports.js';
export {
  type ExitResult,
  ProcessGroup,
  ProcessHandle,
  runningProcesses,
  type SpawnOptions,
  type StopOptions,
  spawnProcess,
  stopAll,
  type WaitForHttpOptions,
} from './process.js';
export { seeded } from './random.js';
export {
  DEFAULT_ETCD_URL,
  type EtcdFixture,
  type EtcdResource,
  etcdUrl,
  probeEtcd,
  useEtcd,
} from './servers/etcd.js';
export {
  DEFAULT_NATS_URL,
  type NatsFixture,
  type NatsResource,
  natsUrl,
  probeNats,
  useNats,
} from './servers/nats.js';
export {
  configuredPostgresUrl,
  DEFAULT_POSTGRES_URL,
  type PostgresFixture,
  type PostgresResource,
  postgresServerUrl,
  probePostgres,
  usePostgres,
} from './servers/postgres.js';
export {
  type ProbeResult,
  REQUIRE_SERVICES_ENV,
  type ServerKind,
  type SkipFn,
  servicesRequired,
} from './servers/probe.js';
export {
  DEFAULT_RABBITMQ_MANAGEMENT_URL,
  DEFAULT_RABBITMQ_URL,
  probeRabbitmq,
  probeRabbitmqManagement,
  type RabbitmqFixture,
  type RabbitmqResource,
  rabbitmqManagementUrl,
  rabbitmqUrl,
  useRabbitmq,
} from './servers/rabbitmq.js';
export {
  DEFAULT_REDIS_URL,
  probeRedis,
  type RedisFixture,
  type RedisResource,
  redisUrl,
  useRedis,
} from './servers/redis.js';
export { probeServer, requireServer } from './servers/require.js';
export { makeTempDir, type TempDir } from './temp-dir.js';
