import { type Problem, problem } from '@flotilla/core';
import { parseDuration } from '@flotilla/resilience';
import { type Static, Type } from '@sinclair/typebox';
import { badConfig, checkConfig } from '../auth/config.js';
import { headerValue, type RequestLike } from '../auth/request.js';
import { HeaderName } from '../proxy/header-schema.js';

/** The `cors` section of a route. */
export const CorsSchema = Type.Object(
  {
    /** `*`, or origins like `https://app.example.com` and `https://*.example.com`. */
    origins: Type.Union([Type.Literal('*'), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })]),
    /** Methods allowed cross-origin. Default GET, HEAD, POST, PUT, PATCH, DELETE. */
    methods: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z]+$' }), { minItems: 1 })),
    /** Request headers allowed cross-origin. Default, or with `*`: whatever the preflight asks for. */
    headers: Type.Optional(Type.Array(HeaderName)),
    /** Response headers scripts may read (`*`: all, without credentials only). */
    exposeHeaders: Type.Optional(Type.Array(HeaderName)),
    /** Allow cookies and HTTP auth cross-origin (not with `origins: '*'`). */
    credentials: Type.Optional(Type.Boolean()),
    /** How long browsers may cache a preflight answer. Default `10m`. */
    maxAge: Type.Optional(Type.Union([Type.String(), Type.Number({ minimum: 0 })])),
  },
  { additionalProperties: false },
);

/** Configuration of a route's CORS policy. */
export type CorsConfig = Static<typeof CorsSchema>;

/** The answer to a preflight: send `status` with `headers` (and `problem` as the body on 403). */
export interface PreflightAnswer {
  status: 204 | 403;
  headers: Record<string, string>;
  problem?: Problem;
}

/** A route's CORS policy. */
export interface Cors {
  /** The answer when `req` is a preflight (OPTIONS with Origin and Access-Control-Request-Method). */
  preflight(req: RequestLike): PreflightAnswer | undefined;
  /** Headers to add to the response of an actual (non-preflight) request. */
  headers(req: RequestLike): Record<string, string>;
}

const DEFAULT_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** Builds a route's CORS policy (Fetch standard, CORS protocol). */
export function createCors(config: CorsConfig, field = 'cors'): Cors {
  checkConfig(CorsSchema, config, field);
  const any = config.origins === '*';
  const credentials = config.credentials ?? false;
  if (any && credentials) {
    // Browsers refuse `*` with credentials; reflecting any origin instead would let every site
    // make authenticated calls on a user's behalf.
    badConfig(`${field}.origins`, 'a list of origins when credentials is true', '*');
  }
  const matchers = any
    ? []
    : (config.origins as string[]).map((o, i) => originMatcher(o, `${field}.origins.${i}`));
  const methods = (config.methods ?? DEFAULT_METHODS).map((m) => m.toUpperCase());
  // `*` allows any request header. Browsers honour a `*` answer only without credentials; the
  // asked headers are reflected instead, which they honour with credentials too.
  const allowHeaders = config.headers?.includes('*')
    ? undefined
    : config.headers?.map((h) => h.toLowerCase());
  if (credentials && config.exposeHeaders?.includes('*')) {
    // With credentials a browser takes `*` as a header named `*`: nothing would be exposed.
    badConfig(
      `${field}.exposeHeaders`,
      'header names when credentials is true (browsers read * literally then)',
      '*',
    );
  }
  const maxAge = String(Math.floor(parseDuration(config.maxAge ?? '10m', `${field}.maxAge`) / 1000));
  const expose = config.exposeHeaders?.join(', ');

  const allowed = (origin: string) => any || matchers.some((m) => m(origin));
  const originHeaders = (origin: string): Record<string, string> => {
    const out: Record<string, string> = { 'access-control-allow-origin': any ? '*' : origin };
    if (credentials) out['access-control-allow-credentials'] = 'true';
    // The answer depends on Origin unless it is `*`: caches must key on it.
    if (!any) out.vary = 'Origin';
    return out;
  };

  return {
    preflight(req) {
      const origin = headerValue(req, 'origin');
      const method = headerValue(req, 'access-control-request-method');
      if (req.method !== 'OPTIONS' || origin === undefined || method === undefined) return undefined;
      const asked = (headerValue(req, 'access-control-request-headers') ?? '')
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean);
      const badHeader = allowHeaders && asked.find((h) => !allowHeaders.includes(h));
      const reason = !allowed(origin)
        ? `Origin ${origin} is not allowed`
        : !methods.includes(method.toUpperCase())
          ? `Method ${method} is not allowed cross-origin`
          : badHeader
            ? `Header ${badHeader} is not allowed cross-origin`
            : undefined;
      const vary = { vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers' };
      if (reason !== undefined) {
        return {
          status: 403,
          headers: vary,
          problem: problem({ status: 403, code: 'CORS_REJECTED', detail: reason }),
        };
      }
      const headers: Record<string, string> = {
        ...originHeaders(origin),
        ...vary,
        'access-control-allow-methods': methods.join(', '),
        'access-control-max-age': maxAge,
      };
      const allowList = allowHeaders ?? asked;
      if (allowList.length > 0) headers['access-control-allow-headers'] = allowList.join(', ');
      return { status: 204, headers };
    },
    headers(req) {
      const origin = headerValue(req, 'origin');
      if (origin === undefined) return any ? {} : { vary: 'Origin' };
      if (!allowed(origin)) return { vary: 'Origin' };
      const out = originHeaders(origin);
      if (expose) out['access-control-expose-headers'] = expose;
      return out;
    },
  };
}

/** Exact origins compare as serialized; `*.` matches one or more subdomain labels. */
function originMatcher(pattern: string, field: string): (origin: string) => boolean {
  const m = /^(https?):\/\/((?:\*\.)?[a-z0-9.-]+)(:\d+)?$/i.exec(pattern);
  if (!m) badConfig(field, 'an origin like https://app.example.com or https://*.example.com', pattern);
  const lower = pattern.toLowerCase();
  if (!lower.includes('*')) return (origin) => origin.toLowerCase() === lower;
  // Only `*.` at the start of the host may be a wildcard (the pattern check above ensures it).
  const source = lower.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace('*\\.', '(?:[a-z0-9-]+\\.)+');
  const regex = new RegExp(`^${source}$`);
  return (origin) => regex.test(origin.toLowerCase());
}
