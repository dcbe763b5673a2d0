import type { StrategyName } from '@flotilla/discovery';
import { type CircuitBreakerOptions, circuitBreaker, parseDuration } from '@flotilla/resilience';
import { type CompositeAction, compileComposite, compositeUpstreams } from '../composite/compile.js';
import { checkFeatures } from '../features/check.js';
import { RouteDefinitionError } from './errors.js';
import { type CompiledHeaderOps, compileHeaderOps } from './header-ops.js';
import { compilePathTemplate, type PathTemplate } from './path-template.js';
import type { RouteDefinition, StaticDefinition, TargetDefinition } from './schema.js';

/** Default end-to-end timeout of a proxied request (until the upstream's response headers). */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** Where a proxied request goes: a service through discovery, or a fixed origin. */
export type Upstream =
  | {
      readonly kind: 'service';
      readonly key: string;
      readonly service: string;
      readonly version?: string;
      readonly strategy: StrategyName;
    }
  | { readonly kind: 'url'; readonly key: string; readonly origin: string; readonly basePath: string };

/** A fixed response: `static` routes and breaker fallbacks. */
export interface StaticResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export type RouteAction =
  | { readonly kind: 'proxy'; readonly legs: readonly Upstream[]; readonly cumulative: readonly number[] }
  | {
      readonly kind: 'redirect';
      readonly to: PathTemplate;
      readonly status: number;
      readonly keepQuery: boolean;
    }
  | { readonly kind: 'static'; readonly response: StaticResponse }
  | CompositeAction;

/** A route ready to serve: predicates, action and per-route settings, all precomputed. */
export interface CompiledRoute {
  readonly id: string;
  readonly index: number;
  readonly path: string;
  readonly methods: ReadonlySet<string> | undefined;
  readonly host: { readonly exact?: string; readonly suffix?: string } | undefined;
  readonly headers: readonly (readonly [string, string])[];
  readonly query: readonly (readonly [string, string])[];
  readonly action: RouteAction;
  readonly rewrite: { readonly stripPrefix?: string; readonly path?: PathTemplate } | undefined;
  readonly requestHeaders: CompiledHeaderOps | undefined;
  readonly responseHeaders: CompiledHeaderOps | undefined;
  readonly timeoutMs: number;
  readonly retry: { readonly attempts: number; readonly perTryTimeoutMs?: number } | undefined;
  readonly circuitBreaker: CircuitBreakerOptions | undefined;
  readonly concurrency: number | undefined;
  readonly fallback: StaticResponse | undefined;
  readonly maxBodySize: number | undefined;
  /** The route as written, including the keys other modules own (auth, rateLimit, cache, cors). */
  readonly definition: RouteDefinition;
}

const ACTIONS = ['target', 'redirect', 'static', 'aggregate', 'chain', 'branch'] as const;

/** Every upstream a route may call (proxy legs or composite legs). */
export function routeUpstreams(route: CompiledRoute): readonly Upstream[] {
  const action = route.action;
  if (action.kind === 'proxy') return action.legs;
  if (action.kind === 'composite') return compositeUpstreams(action);
  return [];
}

/** Compiles validated route definitions; throws `RouteDefinitionError` with a JSON pointer. */
export function compileRoutes(definitions: readonly RouteDefinition[]): CompiledRoute[] {
  const ids = new Map<string, number>();
  return definitions.map((def, index) => {
    const at = `/routes/${index}`;
    const seen = ids.get(def.id);
    if (seen !== undefined)
      throw new RouteDefinitionError(`${at}/id`, `duplicate route id "${def.id}" (also route ${seen})`);
    ids.set(def.id, index);
    return compileRoute(def, index, at);
  });
}

function compileRoute(def: RouteDefinition, index: number, at: string): CompiledRoute {
  const actions = ACTIONS.filter((k) => def[k] !== undefined);
  if (actions.length !== 1) {
    throw new RouteDefinitionError(
      at,
      `a route needs exactly one of ${ACTIONS.join(', ')}; got ${actions.length === 0 ? 'none' : actions.join(', ')}`,
    );
  }
  checkFeatures(def, at);
  checkAnswerHeaders(def, at);
  const match = def.match;
  const host = match.host?.toLowerCase();
  let action: RouteAction;
  if (def.target) action = compileTarget(def.target, `${at}/target`);
  else if (def.redirect) {
    action = {
      kind: 'redirect',
      to: compilePathTemplate(def.redirect.to),
      status: def.redirect.status ?? 302,
      keepQuery: def.redirect.keepQuery ?? true,
    };
  } else if (def.static) action = { kind: 'static', response: compileStatic(def.static) };
  else action = compileComposite(def, at);
  return {
    id: def.id,
    index,
    path: match.path,
    methods: match.methods ? new Set(match.methods) : undefined,
    host:
      host === undefined ? undefined : host.startsWith('*.') ? { suffix: host.slice(1) } : { exact: host },
    headers: Object.entries(match.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const),
    query: Object.entries(match.query ?? {}),
    action,
    rewrite: def.rewrite
      ? {
          ...(def.rewrite.stripPrefix !== undefined
            ? { stripPrefix: def.rewrite.stripPrefix.replace(/\/+$/, '') }
            : {}),
          ...(def.rewrite.path !== undefined ? { path: compilePathTemplate(def.rewrite.path) } : {}),
        }
      : undefined,
    requestHeaders: def.requestHeaders ? compileHeaderOps(def.requestHeaders) : undefined,
    responseHeaders: def.responseHeaders ? compileHeaderOps(def.responseHeaders) : undefined,
    timeoutMs: def.timeout === undefined ? DEFAULT_TIMEOUT_MS : duration(def.timeout, `${at}/timeout`),
    retry: def.retry
      ? {
          attempts: def.retry.attempts,
          ...(def.retry.perTryTimeout !== undefined
            ? { perTryTimeoutMs: duration(def.retry.perTryTimeout, `${at}/retry/perTryTimeout`) }
            : {}),
        }
      : undefined,
    circuitBreaker: def.circuitBreaker
      ? breakerOptions(def.circuitBreaker, `${at}/circuitBreaker`)
      : undefined,
    concurrency: def.concurrency,
    fallback: def.fallback ? compileStatic(def.fallback) : undefined,
    maxBodySize: def.maxBodySize === undefined ? undefined : byteSize(def.maxBodySize, `${at}/maxBodySize`),
    definition: def,
  };
}

function compileTarget(target: TargetDefinition, at: string): RouteAction {
  const kinds = (['service', 'url', 'split'] as const).filter((k) => target[k] !== undefined);
  if (kinds.length !== 1) {
    throw new RouteDefinitionError(
      at,
      `a target needs exactly one of service, url, split; got ${kinds.join(', ') || 'none'}`,
    );
  }
  if (target.split) {
    if (target.strategy === undefined && target.version !== undefined) {
      throw new RouteDefinitionError(`${at}/version`, 'version belongs on each split leg');
    }
    let total = 0;
    const cumulative: number[] = [];
    const legs = target.split.map((leg, i) => {
      total += leg.weight;
      cumulative.push(total);
      return upstreamOf({ ...leg, strategy: target.strategy }, `${at}/split/${i}`);
    });
    if (total <= 0)
      throw new RouteDefinitionError(`${at}/split`, 'the weights of a split should add up to more than 0');
    return { kind: 'proxy', legs, cumulative };
  }
  return { kind: 'proxy', legs: [upstreamOf(target, at)], cumulative: [1] };
}

export function upstreamOf(
  t: { service?: string; url?: string; version?: string; strategy?: StrategyName },
  at: string,
): Upstream {
  if (t.service !== undefined && t.url !== undefined) {
    throw new RouteDefinitionError(at, 'a target names either a service or a url, not both');
  }
  if (t.service !== undefined) {
    const key = t.version === undefined ? t.service : `${t.service}@${t.version}`;
    return {
      kind: 'service',
      key,
      service: t.service,
      version: t.version,
      strategy: t.strategy ?? 'round-robin',
    };
  }
  if (t.url === undefined) throw new RouteDefinitionError(at, 'a target needs a service or a url');
  let url: URL;
  try {
    url = new URL(t.url);
  } catch {
    throw new RouteDefinitionError(`${at}/url`, `should be an absolute http(s) URL, got "${t.url}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RouteDefinitionError(`${at}/url`, `should be an http or https URL, got "${t.url}"`);
  }
  if (t.version !== undefined)
    throw new RouteDefinitionError(`${at}/version`, 'version applies to service targets only');
  return { kind: 'url', key: url.origin, origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') };
}

/**
 * Headers that frame an answer or its connection. The gateway writes them itself (a length or
 * chunking for the body it sends, keep-alive or close for the client's connection); a route that
 * set or removed them would make an answer whose framing lies, so they are refused when the
 * routes load.
 */
const FRAMING_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'content-length',
  'te',
  'trailer',
  'upgrade',
]);

/** Refuses framing headers in the answers a route defines: static and fallback headers, response header operations. */
function checkAnswerHeaders(def: RouteDefinition, at: string): void {
  const refuse = (name: string, where: string) => {
    if (FRAMING_HEADERS.has(name.toLowerCase()))
      throw new RouteDefinitionError(
        where,
        `${name} frames the answer, which the gateway does itself: it cannot be set or removed by a route`,
      );
  };
  for (const [key, answer] of [
    ['static', def.static],
    ['fallback', def.fallback],
  ] as const)
    for (const name of Object.keys(answer?.headers ?? {})) refuse(name, `${at}/${key}/headers/${name}`);
  const ops = def.responseHeaders;
  if (ops === undefined) return;
  for (const kind of ['set', 'add'] as const)
    for (const name of Object.keys(ops[kind] ?? {})) refuse(name, `${at}/responseHeaders/${kind}/${name}`);
  for (const [i, name] of (ops.remove ?? []).entries()) refuse(name, `${at}/responseHeaders/remove/${i}`);
}

function compileStatic(def: StaticDefinition): StaticResponse {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(def.headers ?? {})) headers[k.toLowerCase()] = v;
  let body: Buffer;
  if (def.json !== undefined) {
    body = Buffer.from(JSON.stringify(def.json));
    headers['content-type'] ??= 'application/json';
  } else {
    body = Buffer.from(def.body ?? '');
    if (def.body !== undefined) headers['content-type'] ??= 'text/plain; charset=utf-8';
  }
  return { status: def.status ?? 200, headers, body };
}

export function duration(value: string | number, at: string): number {
  try {
    return parseDuration(value, at);
  } catch {
    throw new RouteDefinitionError(
      at,
      `should be a duration like "250ms", "2s" or milliseconds, got ${JSON.stringify(value)}`,
    );
  }
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

function byteSize(value: string | number, at: string): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+)\s*(b|kb|mb|gb)$/i.exec(value.trim());
  if (!m) throw new RouteDefinitionError(at, `should be bytes or a size like "1mb", got "${value}"`);
  return Number(m[1]) * (SIZE_UNITS[m[2]!.toLowerCase()] ?? 1);
}

type BreakerDefinition = NonNullable<RouteDefinition['circuitBreaker']>;

function breakerOptions(def: BreakerDefinition, at: string): CircuitBreakerOptions {
  const options: CircuitBreakerOptions = {
    failureRateThreshold: def.failureRateThreshold,
    slowCallRateThreshold: def.slowCallRateThreshold,
    slidingWindowSize: def.slidingWindowSize,
    minimumNumberOfCalls: def.minimumNumberOfCalls,
    permittedNumberOfCallsInHalfOpenState: def.permittedNumberOfCallsInHalfOpenState,
    ...(def.slowCallDuration !== undefined
      ? { slowCallDurationThresholdMs: duration(def.slowCallDuration, `${at}/slowCallDuration`) }
      : {}),
    ...(def.waitDurationInOpenState !== undefined
      ? { waitDurationInOpenStateMs: duration(def.waitDurationInOpenState, `${at}/waitDurationInOpenState`) }
      : {}),
  };
  for (const key of Object.keys(options) as (keyof CircuitBreakerOptions)[]) {
    if (options[key] === undefined) delete options[key];
  }
  try {
    circuitBreaker(options); // validates every field the way the gateway will use it
  } catch (error) {
    throw new RouteDefinitionError(at, (error as Error).message);
  }
  return options;
}
