import { Headers, isFlotillaError, type Problem } from '@flotilla/core';
import { Balancer, type Instance, type InstanceSource } from '@flotilla/discovery';
import {
  type CircuitBreakerOptions,
  circuitBreaker,
  currentDeadline,
  type ExecutionContext,
  isAbortError,
  type Policy,
  type RetryOptions,
  retry,
  wrap,
} from '@flotilla/resilience';
import { Agent, type Dispatcher } from 'undici';
import { currentRequest, formatTraceparent, newSpanId, newTraceId } from '../context.js';
import type { AnyEndpoint, Contract, InputOf, OutputOf } from '../contract.js';
import { RemoteError } from '../errors.js';
import { EndpointCall } from './endpoint-call.js';

/** Per-call options of a typed client method. */
export interface CallOptions {
  /** Absolute deadline (Unix ms); the earliest of this, `timeoutMs` and the caller's own applies. */
  deadline?: number;
  /** Time allowed for the call, retries included. Default: the client's `timeoutMs`. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Sticky key for the consistent-hash strategy. */
  key?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

/** A typed method per endpoint of the contract. */
export type TypedClient<C extends Contract> = {
  // biome-ignore lint/complexity/noBannedTypes: "{} is assignable" means every input part is optional.
  [K in keyof C['endpoints']]: {} extends InputOf<C['endpoints'][K]>
    ? (input?: InputOf<C['endpoints'][K]>, options?: CallOptions) => Promise<OutputOf<C['endpoints'][K]>>
    : (input: InputOf<C['endpoints'][K]>, options?: CallOptions) => Promise<OutputOf<C['endpoints'][K]>>;
};

/** Outcome of one typed call, for metrics. */
export interface CallRecord {
  target: string;
  endpoint: string;
  /** HTTP status, or `error` when no answer came back. */
  status: string;
  seconds: number;
}

export interface ClientOptions {
  /** Where instances come from: a started `DiscoveryClient`, or anything shaped like it. */
  discovery: InstanceSource;
  /** Balancer to pick with (shares outlier ejection across clients). Default: round-robin with ejection. */
  balancer?: Balancer;
  /** HTTP dispatcher. Default: one keep-alive undici `Agent` per client. */
  dispatcher?: Dispatcher;
  /** Time allowed for a call when neither the call nor the incoming request sets a deadline. Default 10 s. */
  timeoutMs?: number;
  /** Retries of idempotent calls on another instance; `false` for none. Default 3 attempts. */
  retry?: RetryOptions | false;
  /** The target service's circuit breaker; `false` for none. Default resilience's defaults. */
  circuitBreaker?: CircuitBreakerOptions | false;
  /** Replaces the default policies (breaker around retry) entirely. */
  policy?: Policy;
  /** Check answers against the contract (a mismatch is an error). Default: outside production. */
  validateResponses?: boolean;
  /** The calling service's name, sent as `user-agent` and used in metrics. */
  caller?: string;
  /** Told about every call (metrics). */
  onCall?: (record: CallRecord) => void;
}

/** True unless FLOTILLA_ENV or NODE_ENV says production. */
export function isDevelopment(env: NodeJS.ProcessEnv = process.env): boolean {
  const name = (env.FLOTILLA_ENV ?? env.NODE_ENV ?? '').toLowerCase();
  return !['production', 'prod'].includes(name);
}

const JSON_TYPES = /^application\/(problem\+)?json\b/i;

/**
 * The machinery behind a typed client: resolves the service through discovery, balances over its
 * instances, sends over keep-alive connections, and runs every call under the target's
 * policies. The circuit breaker sits outside the retries on purpose: it should open when the
 * service fails, not when one instance of several does (outlier ejection handles that).
 */
export class ServiceCaller {
  readonly service: string;
  readonly policy: Policy;
  private readonly balancer: Balancer;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly ownsBalancer: boolean;
  private readonly timeoutMs: number;
  private readonly validate: boolean;
  private readonly userAgent: string;

  constructor(
    service: string,
    private readonly options: ClientOptions,
  ) {
    this.service = service;
    this.ownsBalancer = !options.balancer;
    this.balancer = options.balancer ?? new Balancer({ source: options.discovery });
    this.ownsDispatcher = !options.dispatcher;
    // Idle connections are dropped after 4 s, well before the server's keep-alive timeout
    // (fastify: 72 s), so the client never sends on a socket the server is closing.
    this.dispatcher =
      options.dispatcher ?? new Agent({ keepAliveTimeout: 4_000, keepAliveMaxTimeout: 4_000 });
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.validate = options.validateResponses ?? isDevelopment();
    this.userAgent = `flotilla-service/${options.caller ?? 'client'}`;
    this.policy = options.policy ?? defaultPolicy(service, options);
  }

  /** Calls one endpoint. */
  async call(e: EndpointCall, input: Parameters<EndpointCall['target']>[0] = {}, options?: CallOptions) {
    e.check(input);
    const path = e.target(input);
    const body = e.hasBody ? JSON.stringify(input.body) : undefined;
    const request = currentRequest();
    let deadline = Date.now() + (options?.timeoutMs ?? this.timeoutMs);
    if (options?.deadline !== undefined && options.deadline < deadline) deadline = options.deadline;
    if (request?.deadline !== undefined && request.deadline < deadline) deadline = request.deadline;
    const inProcess = currentDeadline();
    if (inProcess !== undefined && inProcess < deadline) deadline = inProcess;

    const headers: Record<string, string> = {
      'user-agent': this.userAgent,
      [Headers.deadline]: String(deadline),
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (request) {
      headers[Headers.requestId] = request.requestId;
      headers[Headers.traceparent] = formatTraceparent(request.traceId, newSpanId(), request.traceFlags);
      if (request.tracestate) headers[Headers.tracestate] = request.tracestate;
      if (request.principalHeader) headers[Headers.principal] = request.principalHeader;
    } else {
      headers[Headers.traceparent] = formatTraceparent(newTraceId(), newSpanId());
    }
    if (options?.headers) Object.assign(headers, options.headers);

    const call: Call = {
      e,
      path,
      headers,
      body,
      key: options?.key,
      tried: undefined,
      status: 'error',
      // Reading `ctx.signal` makes the engine allocate an AbortSignal; without a caller's
      // signal, the deadline reaches undici as its headers timeout instead.
      cancellable: options?.signal !== undefined,
    };
    const started = performance.now();
    try {
      return await this.policy.execute((ctx) => this.attempt(call, ctx), {
        deadline,
        idempotent: e.idempotent,
        signal: options?.signal,
      });
    } catch (error) {
      throw this.callError(e, error);
    } finally {
      this.options.onCall?.({
        target: this.service,
        endpoint: e.name,
        status: call.status,
        seconds: (performance.now() - started) / 1_000,
      });
    }
  }

  private async attempt(call: Call, ctx: ExecutionContext): Promise<unknown> {
    for (;;) {
      let picked: Instance | undefined;
      try {
        return await this.balancer.call(
          this.service,
          (instance) => {
            picked = instance;
            return this.send(call, instance, ctx);
          },
          { exclude: call.tried, key: call.key },
        );
      } catch (error) {
        // Instances that failed an attempt: the next pick avoids them.
        if (picked) {
          call.tried ??= new Set();
          call.tried.add(picked.instanceId);
        }
        // A refused connection sent nothing, so another instance may take the call whatever
        // its method. Anything else is the retry policy's to judge (idempotent calls only).
        if (
          picked &&
          isRefused(error) &&
          (call.tried?.size ?? 0) < this.balancer.available(this.service).length
        ) {
          continue;
        }
        throw error;
      }
    }
  }

  private async send(call: Call, instance: Instance, ctx: ExecutionContext): Promise<unknown> {
    const { e } = call;
    const remaining = ctx.deadline === undefined ? undefined : Math.max(1, ctx.deadline - Date.now());
    const response = await this.dispatcher.request({
      origin: originOf(instance),
      path: call.path,
      method: e.method as Dispatcher.HttpMethod,
      headers: call.headers,
      body: call.body,
      signal: call.cancellable ? ctx.signal : undefined,
      headersTimeout: remaining,
      bodyTimeout: remaining,
    });
    call.status = String(response.statusCode);
    const type = String(response.headers['content-type'] ?? '');
    if (response.statusCode >= 200 && response.statusCode < 300) {
      if (response.statusCode === 204 || !JSON_TYPES.test(type)) {
        await response.body.dump();
        return undefined;
      }
      const value = await response.body.json();
      if (this.validate && !e.response.check(value)) {
        throw new RemoteError(
          `${this.service}.${e.name} answered outside its contract: ${describe(e.response.errors(value))}`,
          {
            code: 'CONTRACT_VIOLATION',
            status: 502,
            data: { service: this.service, endpoint: e.name, errors: e.response.errors(value) },
          },
        );
      }
      return value;
    }
    const text = await response.body.text();
    let problem: Problem | undefined;
    if (JSON_TYPES.test(type)) {
      try {
        problem = JSON.parse(text) as Problem;
      } catch {
        problem = undefined;
      }
    }
    const status = response.statusCode;
    throw new RemoteError(
      `${this.service}.${e.name} answered ${status}${problem?.detail ? `: ${problem.detail}` : ''}`,
      {
        code: typeof problem?.code === 'string' ? problem.code : `HTTP_${status}`,
        status,
        retryable:
          status === 429 ||
          status === 502 ||
          status === 503 ||
          status === 504 ||
          problem?.code === 'SHUTTING_DOWN',
        data: { service: this.service, endpoint: e.name, instance: instance.instanceId, problem },
      },
    );
  }

  /** Errors that are not the platform's own (a socket error) become a 503 naming the target. */
  private callError(e: EndpointCall, error: unknown): unknown {
    if (isFlotillaError(error) || isAbortError(error)) return error;
    return new RemoteError(
      `${this.service}.${e.name} could not be reached: ${(error as Error)?.message ?? String(error)}`,
      {
        code: 'UPSTREAM_UNAVAILABLE',
        status: 503,
        retryable: true,
        cause: error,
        data: { service: this.service, endpoint: e.name },
      },
    );
  }

  /** Closes what the caller created (its connections, its balancer). */
  async close(): Promise<void> {
    if (this.ownsBalancer) this.balancer.close();
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}

/** Circuit breaker around retries, each left out when switched off. */
function defaultPolicy(service: string, options: ClientOptions): Policy {
  const policies: Policy[] = [];
  if (options.circuitBreaker !== false) {
    policies.push(circuitBreaker({ name: `${service}-breaker`, ...options.circuitBreaker }));
  }
  if (options.retry !== false) {
    policies.push(retry({ name: `${service}-retry`, maxAttempts: 3, ...options.retry }));
  }
  return wrap(...policies);
}

const origins = new WeakMap<Instance, string>();

/** `http://host:port` of an instance, built once per (immutable) instance object. */
function originOf(instance: Instance): string {
  let origin = origins.get(instance);
  if (origin === undefined) {
    origin = `http://${instance.host}:${instance.port}`;
    origins.set(instance, origin);
  }
  return origin;
}

/** State of one typed call across its attempts. */
interface Call {
  readonly e: EndpointCall;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
  readonly key: string | undefined;
  readonly cancellable: boolean;
  /** Instances that failed an attempt, created on the first failure. */
  tried: Set<string> | undefined;
  /** Last HTTP status, `error` while none came back. */
  status: string;
}

function isRefused(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === 'ECONNREFUSED') return true;
  }
  return false;
}

function describe(errors: readonly { field: string; message: string }[]): string {
  return errors
    .slice(0, 3)
    .map((x) => `${x.field}: ${x.message}`)
    .join('; ');
}

/** Builds the typed client of `contract` over a caller. */
export function typedClient<C extends Contract>(contract: C, caller: ServiceCaller): TypedClient<C> {
  const client: Record<string, unknown> = {};
  for (const [name, endpoint] of Object.entries(contract.endpoints) as [string, AnyEndpoint][]) {
    const e = new EndpointCall(name, endpoint);
    client[name] = (input?: Parameters<EndpointCall['target']>[0], options?: CallOptions) =>
      caller.call(e, input, options);
  }
  return client as TypedClient<C>;
}

/**
 * A typed client of another service, outside a service (scripts, tests). Inside a service use
 * `service.client(contract)`, which shares the service's discovery, balancer and metrics.
 */
export function createClient<C extends Contract>(
  contract: C,
  options: ClientOptions,
): TypedClient<C> & { close(): Promise<void> } {
  const caller = new ServiceCaller(contract.service, options);
  return Object.assign(typedClient(contract, caller), { close: () => caller.close() });
}
