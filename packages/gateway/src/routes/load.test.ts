import { describe, expect, it } from 'vitest';
import { RoutesError } from './errors.js';
import { parseRoutes } from './load.js';

function errorOf(text: string): RoutesError {
  try {
    parseRoutes(text, 'routes.yaml');
  } catch (error) {
    if (error instanceof RoutesError) return error;
    throw error;
  }
  throw new Error('expected the routes to be refused');
}

describe('parseRoutes', () => {
  it('compiles a valid file, keeping the security and traffic sections in the definition', () => {
    const routes = parseRoutes(
      [
        'routes:',
        '  - id: catalog',
        '    match: { path: /api/catalog/*, methods: [GET] }',
        '    target: { service: catalog, strategy: p2c-ewma }',
        '    auth: { jwt: { issuer: "http://idp", audience: flotilla, jwksUrl: "http://idp/jwks" } }',
        '    rateLimit: { limit: 10 }',
        '    timeout: 2s',
      ].join('\n'),
    );
    expect(routes[0]?.id).toBe('catalog');
    expect(routes[0]?.timeoutMs).toBe(2_000);
    expect(routes[0]?.definition.auth?.jwt?.issuer).toBe('http://idp');
  });

  it('names the line of a security or traffic section that breaks its schema', () => {
    const error = errorOf(
      [
        'routes:',
        '  - id: a',
        '    match: { path: /a }',
        '    static: {}',
        '    rateLimit: { limit: 0 }',
      ].join('\n'),
    );
    expect(error.message).toMatch(
      /^routes\.yaml:5:25: \/routes\/0\/rateLimit\/limit: Expected integer to be greater or equal to 1, got 0/,
    );
  });

  it('names the line of a section the module itself refuses, with the field and the value', () => {
    const error = errorOf(
      [
        'routes:',
        '  - id: a',
        '    match: { path: /a }',
        '    static: {}',
        '    cors: { origins: "*", credentials: true }',
      ].join('\n'),
    );
    expect(error.message).toBe(
      'routes.yaml:5:22: /routes/0/cors/origins: should be a list of origins when credentials is true, got "*"',
    );
    const period = errorOf(
      [
        'routes:',
        '  - id: a',
        '    match: { path: /a }',
        '    static: {}',
        '    rateLimit: { limit: 1, period: often }',
      ].join('\n'),
    );
    expect(period.message).toMatch(
      /^routes\.yaml:5:36: \/routes\/0\/rateLimit\/period: should be a duration/,
    );
  });

  it('names the line and column of a value of the wrong type', () => {
    const error = errorOf(
      ['routes:', '  - id: a', '    match: { path: /a }', '    static: { status: "ok" }'].join('\n'),
    );
    expect(error.message).toMatch(/^routes\.yaml:4:23: \/routes\/0\/static\/status: Expected integer/);
    expect(error.data).toMatchObject({ line: 4, column: 23, pointer: '/routes/0/static/status' });
  });

  it('refuses a header operation, static header or CORS header list the gateway could not write, with its line', () => {
    const route = (line: string) =>
      errorOf(['routes:', '  - id: a', '    match: { path: /a }', '    static: {}', line].join('\n'));
    expect(route('    requestHeaders: { set: { x-a: "b\\r\\nx-injected: 1" } }').message).toMatch(
      /^routes\.yaml:5:\d+: \/routes\/0\/requestHeaders\/set\/x-a: /,
    );
    expect(route('    responseHeaders: { add: { "bad name": x } }').message).toMatch(
      /^routes\.yaml:5:\d+: \/routes\/0\/responseHeaders\/add\/bad name: /,
    );
    expect(route('    responseHeaders: { remove: ["a:b"] }').message).toMatch(/^routes\.yaml:5:/);
    const staticHeader = errorOf(
      ['routes:', '  - id: a', '    match: { path: /a }', '    static: { headers: { x-a: "\\u0100" } }'].join(
        '\n',
      ),
    );
    expect(staticHeader.message).toMatch(/^routes\.yaml:4:\d+: \/routes\/0\/static\/headers\/x-a: /);
    // CORS header lists are written into answers too (exposed) or compared with a request's (allowed).
    const cors = (list: string) => route(`    cors: { origins: "*", ${list} }`).message;
    expect(cors('exposeHeaders: ["x-a\\u0001b"]')).toMatch(
      /^routes\.yaml:5:\d+: \/routes\/0\/cors\/exposeHeaders\/0: /,
    );
    expect(cors('headers: [x-ok, "x a"]')).toMatch(/^routes\.yaml:5:\d+: \/routes\/0\/cors\/headers\/1: /);
    expect(cors('exposeHeaders: [""]')).toMatch(/^routes\.yaml:5:\d+: \/routes\/0\/cors\/exposeHeaders\/0: /);
  });

  it('refuses headers that frame the answer in static, fallback and response headers, with the line', () => {
    const route = (...lines: string[]) =>
      errorOf(['routes:', '  - id: a', '    match: { path: /a }', ...lines].join('\n')).message;
    expect(route('    static: { headers: { Transfer-Encoding: chunked } }')).toMatch(
      /^routes\.yaml:4:\d+: \/routes\/0\/static\/headers\/Transfer-Encoding: Transfer-Encoding frames the answer/,
    );
    expect(route('    static: {}', '    responseHeaders: { remove: [x-a, content-length] }')).toMatch(
      /^routes\.yaml:5:\d+: \/routes\/0\/responseHeaders\/remove\/1: /,
    );
    expect(route('    static: {}', '    responseHeaders: { set: { connection: close } }')).toMatch(
      /^routes\.yaml:5:\d+: \/routes\/0\/responseHeaders\/set\/connection: /,
    );
    expect(
      route(
        '    target: { url: "http://127.0.0.1:1" }',
        '    fallback: { headers: { keep-alive: timeout=1 } }',
      ),
    ).toMatch(/^routes\.yaml:5:\d+: \/routes\/0\/fallback\/headers\/keep-alive: /);
  });

  it('names an unknown key', () => {
    const error = errorOf(
      ['routes:', '  - id: a', '    match: { path: /a, colour: red }', '    static: {}'].join('\n'),
    );
    expect(error.message).toMatch(/^routes\.yaml:3:/);
    expect(error.message).toContain('colour');
  });

  it('points at the route that has no action', () => {
    const error = errorOf(
      ['routes:', '  - id: a', '    match: { path: /a }', '  - id: b', '    match: { path: /b }'].join('\n'),
    );
    expect(error.message).toMatch(
      /^routes\.yaml:2:5: \/routes\/0: a route needs exactly one of target, redirect, static/,
    );
  });

  it('refuses a bad duration with the value', () => {
    const error = errorOf(
      ['routes:', '  - id: a', '    match: { path: /a }', '    static: {}', '    timeout: soon'].join('\n'),
    );
    expect(error.message).toBe(
      'routes.yaml:5:14: /routes/0/timeout: should be a duration like "250ms", "2s" or milliseconds, got "soon"',
    );
  });

  it('refuses a breaker setting out of range with the field and the value', () => {
    const error = errorOf(
      [
        'routes:',
        '  - id: a',
        '    match: { path: /a }',
        '    target: { url: "http://127.0.0.1:1" }',
        '    circuitBreaker: { failureRateThreshold: 150 }',
      ].join('\n'),
    );
    expect(error.message).toMatch(/^routes\.yaml:5:21: .*failureRateThreshold.*150/);
  });

  it('fills env placeholders from the environment, with defaults, and names the line of a missing one', () => {
    // The YAML holds `${env:…}` placeholders; `$` + `{` keeps them from reading as JS templates.
    const ph = (body: string) => `$${'{'}${body}}`;
    const text = [
      'routes:',
      '  - id: catalog',
      '    match: { path: /api/* }',
      `    target: { url: "${ph('env:CATALOG_URL')}" }`,
      `    auth: { jwt: { issuer: "${ph('env:ISSUER:-http://127.0.0.1:8099')}", audience: "$${ph('env:AUD')}", jwksUrl: "http://idp/jwks" } }`,
    ].join('\n');
    const routes = parseRoutes(text, 'routes.yaml', { CATALOG_URL: 'http://127.0.0.1:9000' });
    expect(routes[0]?.definition.target).toEqual({ url: 'http://127.0.0.1:9000' });
    expect(routes[0]?.definition.auth?.jwt?.issuer).toBe('http://127.0.0.1:8099');
    expect(routes[0]?.definition.auth?.jwt?.audience).toBe(ph('env:AUD'));
    expect(() => parseRoutes(text, 'routes.yaml', {})).toThrow(
      /^routes\.yaml:4:20: \/routes\/0\/target\/url: environment variable CATALOG_URL is not set and has no default/,
    );
  });

  it('reports YAML syntax errors with their line', () => {
    expect(errorOf('routes:\n  - id: [unclosed\n').message).toMatch(/^routes\.yaml:\d+:\d+: /);
  });

  it('refuses duplicate route ids', () => {
    const error = errorOf(
      [
        'routes:',
        '  - { id: a, match: { path: /a }, static: {} }',
        '  - { id: a, match: { path: /b }, static: {} }',
      ].join('\n'),
    );
    expect(error.message).toMatch(/^routes\.yaml:3:\d+: \/routes\/1\/id: duplicate route id "a"/);
  });
});
