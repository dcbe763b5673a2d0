import type {
  BusAdapter,
  Definitions,
  IncomingOf,
  MessageDefinition,
  PayloadOf,
  PublishOptions,
  SubscribeOptions,
} from '@flotilla/bus';
import { ConfigurationError, type Envelope, EnvVars } from '@flotilla/core';
import type pg from 'pg';
import { currentRequest, formatTraceparent, newSpanId, newTraceId, parseTraceparent } from './context.js';
import type { EventContext } from './service.js';

/** How a service reaches its broker. */
export interface BusSettings {
  /** The adapter; default chosen from `FLOTILLA_BUS_URL`'s scheme (the adapter package must be installed). */
  adapter?: BusAdapter;
  /** Outbox for `ctx.publish` when the service has a database; default true. */
  outbox?: boolean;
}

/** A subscription declared with `on(...)`. */
export interface EventHandlerSpec<Ctx = unknown> {
  readonly definitions: Definitions;
  readonly options: SubscribeOptions & {
    /**
     * Run the handler in a database transaction that also records the message id (the
     * idempotent inbox): a redelivered message is acknowledged without running it twice. The
     * handler's writes go through `ctx.tx`. Needs the service's database.
     */
    idempotent?: boolean;
  };
  readonly handler: (message: IncomingOf<Definitions>, ctx: Ctx) => Promise<void> | void;
}

/** A transaction in the service's database that can also publish (through the outbox). */
export interface Transaction {
  query: pg.PoolClient['query'];
  /** Writes the message to the outbox in this transaction: it is published if and only if the transaction commits. */
  publish<D extends MessageDefinition>(
    definition: D,
    payload: PayloadOf<D>,
    options?: PublishOptions,
  ): Promise<Envelope>;
}

/**
 * Declares a message handler for `createService({ events: [...] })`. Instances of one service
 * compete for messages; every subscribing service gets each one.
 */
// biome-ignore lint/suspicious/noExplicitAny: the handler's config type is the service's, unknown here.
export function on<const D extends Definitions, Ctx = EventContext<any>>(
  definitions: D,
  options: EventHandlerSpec['options'],
  handler: (message: IncomingOf<D>, ctx: Ctx) => Promise<void> | void,
): EventHandlerSpec<Ctx> {
  return { definitions, options, handler: handler as EventHandlerSpec<Ctx>['handler'] };
}

/**
 * The adapter for `FLOTILLA_BUS_URL`, loaded by its scheme (`adapterFromUrl` of `@flotilla/bus`).
 * Adapter packages are optional dependencies of a service: only the one in use needs to be installed.
 */
export async function adapterFromEnv(env: NodeJS.ProcessEnv): Promise<BusAdapter> {
  const url = env[EnvVars.busUrl];
  if (!url) {
    throw new ConfigurationError(
      `The service uses the bus but ${EnvVars.busUrl} is not set (postgres://, amqp://, nats:// or redis://)`,
      { data: { field: EnvVars.busUrl } },
    );
  }
  // Loaded on use, like the rest of the bus: a service without one never loads it.
  const { ADAPTER_PACKAGES, adapterFromUrl, schemeOf } = await import('@flotilla/bus');
  const scheme = schemeOf(url);
  const known = ADAPTER_PACKAGES[scheme];
  if (!known) {
    throw new ConfigurationError(
      `${EnvVars.busUrl} should start with postgres://, amqp://, nats:// or redis://, got "${scheme}:"`,
    );
  }
  try {
    return await adapterFromUrl(url);
  } catch (error) {
    if (error instanceof ConfigurationError && error.data?.missing === true) {
      throw new ConfigurationError(`${EnvVars.busUrl} is a ${scheme}:// URL: install ${known.pkg}`, {
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Envelope fields that tie a new message to what caused it: inside an event handler the
 * incoming message (causation, correlation, trace), inside an HTTP request the request id and
 * trace.
 */
export function causeOptions(cause: Envelope | undefined, options: PublishOptions = {}): PublishOptions {
  if (cause) {
    const parent = parseTraceparent(cause.traceparent);
    return {
      correlationId: cause.correlationId ?? cause.messageId,
      causationId: cause.messageId,
      traceparent: parent ? formatTraceparent(parent.traceId, newSpanId(), parent.flags) : undefined,
      ...options,
    };
  }
  const request = currentRequest();
  if (request) {
    return {
      correlationId: request.requestId,
      traceparent: formatTraceparent(request.traceId, newSpanId(), request.traceFlags),
      ...options,
    };
  }
  return { traceparent: formatTraceparent(newTraceId(), newSpanId()), ...options };
}
