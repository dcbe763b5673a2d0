import { ConfigurationError } from '@flotilla/core';
import { type BackoffOptions, ExponentialBackoff } from '@flotilla/resilience';
import type { Definitions, MessageDefinition } from './message.js';
import { assertInteger, assertName } from './names.js';

/** Options of `bus.subscribe`. */
export interface SubscribeOptions {
  /** Subscriber group: instances of one group compete, each group gets every message. Default: the service name. */
  group?: string;
  /** Deliveries handled at once by this instance. Default 8. */
  concurrency?: number;
  /** Per-key FIFO: one message per key at a time, in publish order, retries included. Default false. */
  ordered?: boolean;
  /** Deliveries before a message goes to the dead-letter queue. Default 5. */
  maxAttempts?: number;
  /** Delay between attempts: exponential with full jitter. Default 500 ms doubling up to 60 s. */
  backoff?: BackoffOptions;
}

/** Bus-wide defaults for `SubscribeOptions`. */
export type SubscribeDefaults = Omit<SubscribeOptions, 'group'>;

/** Subscribe options with every default applied and checked. */
export interface ResolvedSubscribeOptions {
  readonly group: string;
  readonly concurrency: number;
  readonly ordered: boolean;
  readonly maxAttempts: number;
  readonly backoff: ExponentialBackoff;
}

const DEFAULT_BACKOFF: BackoffOptions = {
  initialDelayMs: 500,
  maxDelayMs: 60_000,
  multiplier: 2,
  jitter: 'full',
};

/** Applies defaults and fails at start on a bad value, naming the field. */
export function resolveSubscribeOptions(
  options: SubscribeOptions,
  defaults: SubscribeDefaults,
  service: string,
): ResolvedSubscribeOptions {
  return {
    group: assertName('group', options.group ?? service),
    concurrency: assertInteger('concurrency', options.concurrency ?? defaults.concurrency ?? 8, 1, 10_000),
    ordered: options.ordered ?? defaults.ordered ?? false,
    maxAttempts: assertInteger('maxAttempts', options.maxAttempts ?? defaults.maxAttempts ?? 5, 1, 1_000_000),
    backoff: new ExponentialBackoff({ ...DEFAULT_BACKOFF, ...defaults.backoff, ...options.backoff }),
  };
}

/** The definitions as a list, checked to share one topic; returns that topic. */
export function definitionList(definitions: Definitions): {
  topic: string;
  list: readonly MessageDefinition[];
} {
  const list: readonly MessageDefinition[] = Array.isArray(definitions)
    ? (definitions as readonly MessageDefinition[])
    : [definitions as MessageDefinition];
  const first = list[0];
  if (first === undefined) throw new ConfigurationError('subscribe needs at least one message definition');
  for (const d of list) {
    if (d.topic !== first.topic) {
      throw new ConfigurationError(
        `Message types of one subscription must share a topic: ${first.type} is on ${first.topic}, ${d.type} on ${d.topic}`,
        { data: { field: 'definitions', topics: [first.topic, d.topic] } },
      );
    }
  }
  return { topic: first.topic, list };
}
