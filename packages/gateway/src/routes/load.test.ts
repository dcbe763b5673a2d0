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
  it('compiles a valid file, keeping the keys owned by other modules', () => {
    const routes = parseRoutes(
      [
        'routes:',
        '  - id: catalog',
        '    match: { path: /api/catalog/*, methods: [GET] }',
        '    target: { service: catalog, strategy: p2c-ewma }',
        '    auth: { jwt: true }',
        '    rateLimit: { limit: 10 }',
        '    timeout: 2s',
      ].join('\n'),
    );
    expect(routes[0]?.id).toBe('catalog');
    expect(routes[0]?.timeoutMs).toBe(2_000);
    expect(routes[0]?.definition.auth).toEqual({ jwt: true });
  });

  it('names the line and column of a value of the wrong type', () => {
    const error = errorOf(
      ['routes:', '  - id: a', '    match: { path: /a }', '    static: { status: "ok" }'].join('\n'),
    );
    expect(error.message).toMatch(/^routes\.yaml:4:23: \/routes\/0\/static\/status: Expected integer/);
    expect(error.data).toMatchObject({ line: 4, column: 23, pointer: '/routes/0/static/status' });
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
