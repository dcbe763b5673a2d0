import { ConfigurationError } from '@flotilla/core';
import { type Static, type TSchema, Type } from '@sinclair/typebox';

/** HTTP methods an endpoint may use. */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * One endpoint of a service: method, path and TypeBox schemas of what goes in and out. Both
 * sides use the same object: the service to validate requests (and, in development, its own
 * responses), callers to get a typed client.
 */
export interface Endpoint<
  P extends TSchema | undefined = TSchema | undefined,
  Q extends TSchema | undefined = TSchema | undefined,
  B extends TSchema | undefined = TSchema | undefined,
  R extends TSchema = TSchema,
> {
  readonly method: HttpMethod;
  /** Path with `:name` parameters, e.g. `/titles/:titleId`. */
  readonly path: string;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  readonly response: R;
  /** Status of a successful answer; default 200 (201 is common for POST). */
  readonly status?: number;
  /** Whether a call may be sent twice (retries, hedges); default true for GET, PUT, DELETE. */
  readonly idempotent?: boolean;
  /** One line for the OpenAPI document. */
  readonly summary?: string;
}

// biome-ignore lint/suspicious/noExplicitAny: the widest endpoint, for constraints.
export type AnyEndpoint = Endpoint<any, any, any, any>;

/** A service's public API: its name and its endpoints by operation name. */
export interface Contract<E extends Record<string, AnyEndpoint> = Record<string, AnyEndpoint>> {
  /** The service name callers resolve through discovery. */
  readonly service: string;
  readonly endpoints: E;
}

type Part<K extends string, S> = S extends TSchema
  ? // A part whose fields are all optional may be left out.
    // biome-ignore lint/complexity/noBannedTypes: "{} is assignable" is exactly the test for "every field optional".
    {} extends Static<S>
    ? { [k in K]?: Static<S> }
    : { [k in K]: Static<S> }
  : { [k in K]?: undefined };

/** What a caller passes (and a handler receives) for an endpoint. */
export type InputOf<E extends AnyEndpoint> =
  E extends Endpoint<infer P, infer Q, infer B, TSchema>
    ? Part<'params', P> & Part<'query', Q> & Part<'body', B>
    : never;

type Given<K extends string, S> = S extends TSchema ? { [k in K]: Static<S> } : { [k in K]?: undefined };

/** What a handler receives: every declared part, present (an absent query string is `{}`). */
export type ReceivedOf<E extends AnyEndpoint> =
  E extends Endpoint<infer P, infer Q, infer B, TSchema>
    ? Given<'params', P> & Given<'query', Q> & Given<'body', B>
    : never;

/** What an endpoint answers. */
export type OutputOf<E extends AnyEndpoint> = Static<E['response']>;

const PARAM = /^:([A-Za-z_][A-Za-z0-9_]*)$/;

/** Declares an endpoint (identity at run time, with checks; the value is in the types). */
export function endpoint<
  P extends TSchema | undefined = undefined,
  Q extends TSchema | undefined = undefined,
  B extends TSchema | undefined = undefined,
  R extends TSchema = TSchema,
>(spec: Endpoint<P, Q, B, R>): Endpoint<P, Q, B, R> {
  return spec;
}

/** Declares a service's contract; fails on a malformed path or a missing schema, naming it. */
export function defineContract<const E extends Record<string, AnyEndpoint>>(contract: {
  service: string;
  endpoints: E;
}): Contract<E> {
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(contract.service)) {
    throw new ConfigurationError(
      `Contract service should be a lowercase name (letters, digits, dashes), got "${contract.service}"`,
    );
  }
  for (const [name, e] of Object.entries(contract.endpoints)) {
    const where = `${contract.service}.${name}`;
    if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(e.method)) {
      throw new ConfigurationError(
        `${where}.method should be GET, POST, PUT, PATCH or DELETE, got "${e.method}"`,
      );
    }
    if (!e.path.startsWith('/')) {
      throw new ConfigurationError(`${where}.path should start with "/", got "${e.path}"`);
    }
    if (!e.response) throw new ConfigurationError(`${where}.response should be a TypeBox schema, got none`);
    const names = pathParams(e.path);
    const declared = Object.keys(e.params?.properties ?? {});
    for (const p of names) {
      if (!declared.includes(p)) {
        throw new ConfigurationError(
          `${where}.params should declare the path parameter "${p}" of "${e.path}"`,
        );
      }
    }
    if ((e.method === 'GET' || e.method === 'DELETE') && e.body) {
      throw new ConfigurationError(`${where}.body is not allowed on ${e.method}`);
    }
  }
  return { service: contract.service, endpoints: contract.endpoints };
}

/** Names of the `:param` segments of a path. */
export function pathParams(path: string): string[] {
  const out: string[] = [];
  for (const segment of path.split('/')) {
    const m = PARAM.exec(segment);
    if (m?.[1]) out.push(m[1]);
  }
  return out;
}

/** Whether a call to `e` may be sent more than once. */
export function isIdempotent(e: AnyEndpoint): boolean {
  return e.idempotent ?? (e.method === 'GET' || e.method === 'PUT' || e.method === 'DELETE');
}

/**
 * One schema over an endpoint's `{ params, query, body }` (undefined when it takes none), so a
 * single check names every bad field as `/params/id`, `/query/limit`, `/body/name`.
 */
export function inputSchema(e: AnyEndpoint): TSchema | undefined {
  const properties: Record<string, TSchema> = {};
  if (e.params) properties.params = e.params;
  if (e.query) properties.query = e.query;
  if (e.body) properties.body = e.body;
  return Object.keys(properties).length > 0 ? Type.Object(properties) : undefined;
}
