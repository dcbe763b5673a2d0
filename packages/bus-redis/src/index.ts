export {
  createRedisAdapter,
  type RedisAdapterOptions,
  RedisBusAdapter,
  type StreamTrim,
} from './adapter.js';
export { RedisBusError } from './errors.js';
