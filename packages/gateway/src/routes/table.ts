import type { IncomingHttpHeaders } from 'node:http';
import FindMyWay from 'find-my-way';
import type { CompiledRoute } from './compile.js';

/** A matched route and the params its path pattern captured. */
export interface RouteMatch {
  readonly route: CompiledRoute;
  readonly params: Readonly<Record<string, string | undefined>>;
}

/** What the predicates look at. */
export interface MatchInput {
  method: string;
  pathname: string;
  search: string;
  headers: IncomingHttpHeaders;
}

type Candidates = CompiledRoute[];

/**
 * Finds the route of a request. find-my-way picks the most specific path pattern (static beats
 * `:param` beats `*`); among the routes declared with that pattern, the first one whose method,
 * host, header and query predicates hold wins. When none holds, every route whose pattern
 * matches is tried in declaration order (a slower path taken only then), so a predicate that
 * fails never hides a less specific route.
 */
export class RouteTable {
  private readonly router = FindMyWay({ ignoreTrailingSlash: true, maxParamLength: 500 });
  private readonly fallbacks: readonly { route: CompiledRoute; re: RegExp; names: string[] }[];

  constructor(readonly routes: readonly CompiledRoute[]) {
    const byPattern = new Map<string, Candidates>();
    const add = (pattern: string, route: CompiledRoute) => {
      const list = byPattern.get(pattern) ?? [];
      list.push(route);
      byPattern.set(pattern, list);
    };
    for (const route of routes) {
      add(route.path, route);
      // `/api/*` also answers `/api` itself: a prefix includes its own root.
      if (route.path.endsWith('/*') && route.path.length > 2) add(route.path.slice(0, -2), route);
    }
    const noop = () => {};
    for (const [pattern, list] of byPattern) this.router.on('GET', pattern, noop, list);
    this.fallbacks = routes.map((route) => ({ route, ...patternRegExp(route.path) }));
  }

  /** The route for a request, or undefined. Throws `URIError` for a malformed path. */
  match(input: MatchInput): RouteMatch | undefined {
    const found = this.router.find('GET', input.pathname);
    if (found) {
      const list = found.store as Candidates;
      for (let i = 0; i < list.length; i++) {
        const route = list[i]!;
        if (predicatesHold(route, input)) return { route, params: found.params };
      }
    }
    return this.slowMatch(input);
  }

  private slowMatch(input: MatchInput): RouteMatch | undefined {
    for (const { route, re, names } of this.fallbacks) {
      const m = re.exec(input.pathname);
      if (!m || !predicatesHold(route, input)) continue;
      const params: Record<string, string | undefined> = {};
      names.forEach((name, i) => {
        const raw = m[i + 1];
        params[name] = raw === undefined ? (name === '*' ? '' : undefined) : decodeURIComponent(raw);
      });
      return { route, params };
    }
    return undefined;
  }
}

function predicatesHold(route: CompiledRoute, input: MatchInput): boolean {
  if (route.methods !== undefined && !route.methods.has(input.method)) return false;
  if (route.host !== undefined && !hostMatches(route.host, input.headers.host)) return false;
  for (const [name, expected] of route.headers) {
    const actual = input.headers[name];
    if (actual === undefined) return false;
    if (expected !== '*' && actual !== expected) return false;
  }
  if (route.query.length > 0) {
    const query = new URLSearchParams(input.search);
    for (const [name, expected] of route.query) {
      const actual = query.get(name);
      if (actual === null || (expected !== '*' && actual !== expected)) return false;
    }
  }
  return true;
}

function hostMatches(rule: { exact?: string; suffix?: string }, header: string | undefined): boolean {
  if (header === undefined) return false;
  let host = header.toLowerCase();
  const colon = host.lastIndexOf(':');
  if (colon > 0 && !host.endsWith(']')) host = host.slice(0, colon);
  if (rule.exact !== undefined) return host === rule.exact;
  return rule.suffix !== undefined && host.endsWith(rule.suffix);
}

function patternRegExp(pattern: string): { re: RegExp; names: string[] } {
  const names: string[] = [];
  let source = '';
  const prefix = pattern.endsWith('/*') ? pattern.slice(0, -2) : undefined;
  const body = prefix ?? pattern;
  let last = 0;
  const re = /:([A-Za-z_][A-Za-z0-9_]*)|\*/g;
  for (let m = re.exec(body); m !== null; m = re.exec(body)) {
    source += escapeRegExp(body.slice(last, m.index));
    names.push(m[1] ?? '*');
    source += m[1] ? '([^/]+)' : '(.*)';
    last = m.index + m[0].length;
  }
  source += escapeRegExp(body.slice(last));
  if (prefix !== undefined) {
    names.push('*');
    source += '(?:/(.*))?';
  }
  return { re: new RegExp(`^${source}/?$`), names };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
