import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger, Principal } from '@flotilla/core';

/**
 * What flows with a request through the service and onto every outgoing call: request id,
 * trace, deadline and the principal. Kept in AsyncLocalStorage, so code deep inside a handler
 * (a repository, a typed client) finds it without passing it along.
 */
export interface RequestContext {
  readonly requestId: string;
  /** W3C trace id (32 hex). */
  readonly traceId: string;
  /** This service's span id for the request (16 hex); outgoing calls are its children. */
  readonly spanId: string;
  readonly traceFlags: string;
  readonly tracestate: string | undefined;
  /** Absolute deadline (Unix ms) the caller gave, if any. */
  readonly deadline: number | undefined;
  readonly principal: Principal | undefined;
  /** The raw principal header, forwarded as received. */
  readonly principalHeader: string | undefined;
  /** Logger bound to the request id and trace id. */
  readonly log: Logger;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The context of the request being handled, if any. */
export function currentRequest(): RequestContext | undefined {
  return storage.getStore();
}

/** Runs `fn` with `ctx` as the current request context. */
export function runWithRequest<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

// W3C trace helpers live in core (the gateway uses them too); re-exported for this package.
export { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '@flotilla/core';
