import { compileValidator, ValidationError, type Validator } from '@flotilla/core';
import type { TSchema } from '@sinclair/typebox';
import { type AnyEndpoint, inputSchema, isIdempotent } from '../contract.js';

type Input = { params?: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown };

/**
 * One endpoint prepared for calling: validators compiled once, the path split once, so a call
 * only fills in values.
 */
export class EndpointCall {
  readonly method: string;
  readonly idempotent: boolean;
  readonly hasBody: boolean;
  private readonly segments: readonly (string | { param: string })[];
  private readonly input: Validator<TSchema> | undefined;
  readonly response: Validator<TSchema>;

  constructor(
    readonly name: string,
    readonly endpoint: AnyEndpoint,
  ) {
    this.method = endpoint.method;
    this.idempotent = isIdempotent(endpoint);
    this.hasBody = endpoint.body !== undefined;
    this.segments = endpoint.path
      .split('/')
      .slice(1)
      .map((s) => (s.startsWith(':') ? { param: s.slice(1) } : s));
    const schema = inputSchema(endpoint);
    this.input = schema ? compileValidator(schema) : undefined;
    this.response = compileValidator(endpoint.response as TSchema, '/response');
  }

  /** Checks what the caller passes before anything is sent; throws `ValidationError` naming the field. */
  check(input: Input): void {
    this.input?.assert({ params: input.params ?? {}, query: input.query ?? {}, body: input.body });
  }

  /** Path and query string of the request. */
  target(input: Input): string {
    let path = '';
    for (const s of this.segments) {
      if (typeof s === 'string') path += `/${s}`;
      else {
        const value = input.params?.[s.param];
        if (value === undefined || value === null || value === '') {
          throw new ValidationError(`Invalid params: /params/${s.param}: Required`, {
            data: { errors: [{ field: `/params/${s.param}`, message: 'Required' }] },
          });
        }
        path += `/${encodeURIComponent(String(value))}`;
      }
    }
    if (path === '') path = '/';
    const query = input.query;
    if (query) {
      const search = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined) continue;
        if (Array.isArray(v)) for (const item of v) search.append(k, String(item));
        else search.append(k, String(v));
      }
      const text = search.toString();
      if (text) path += `?${text}`;
    }
    return path;
  }
}
