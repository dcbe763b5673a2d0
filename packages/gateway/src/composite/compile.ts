import type { StrategyName } from '@flotilla/discovery';
import type { Claims } from '../auth/outcome.js';
import { grantedScopes } from '../auth/scopes.js';
import { duration, type Upstream, upstreamOf } from '../routes/compile.js';
import { RouteDefinitionError } from '../routes/errors.js';
import type {
  AggregateDefinition,
  BranchDefinition,
  ChainDefinition,
  LegDefinition,
  WhenDefinition,
} from './schema.js';
import { compileTemplate, stepsReferenced, type Template } from './template.js';

/** One call of a composite route, ready to run. */
export interface CompiledLeg {
  readonly name: string;
  readonly upstream: Upstream;
  readonly path: Template;
  readonly query: readonly (readonly [string, Template])[];
  /** Undefined: the route's timeout. */
  readonly timeoutMs: number | undefined;
  readonly hasFallback: boolean;
  readonly fallback: unknown;
}

/** Legs in parallel, or steps one after another. */
export type CompositePlan =
  | { readonly kind: 'aggregate'; readonly legs: readonly CompiledLeg[] }
  | { readonly kind: 'chain'; readonly legs: readonly CompiledLeg[] };

/** What a request is tested against to pick a branch. */
export interface CompositeRequest {
  headers: Readonly<Record<string, string | string[] | undefined>>;
  query: Readonly<Record<string, string>>;
  claims: Claims | undefined;
}

/** A plan and the condition that selects it (none: always). */
export interface CompositeCase {
  readonly when: ((req: CompositeRequest) => boolean) | undefined;
  readonly plan: CompositePlan;
}

/** `aggregate` and `chain` routes are one case without a condition; `branch` routes list theirs. */
export interface CompositeAction {
  readonly kind: 'composite';
  readonly cases: readonly CompositeCase[];
}

/** Compiles whichever of aggregate / chain / branch the route has. */
export function compileComposite(
  def: { aggregate?: AggregateDefinition; chain?: ChainDefinition; branch?: BranchDefinition },
  at: string,
): CompositeAction {
  if (def.aggregate)
    return {
      kind: 'composite',
      cases: [{ when: undefined, plan: aggregate(def.aggregate, `${at}/aggregate`) }],
    };
  if (def.chain)
    return { kind: 'composite', cases: [{ when: undefined, plan: chain(def.chain, `${at}/chain`) }] };
  const cases = (def.branch ?? []).map((c, i): CompositeCase => {
    const where = `${at}/branch/${i}`;
    if ((c.chain === undefined) === (c.aggregate === undefined)) {
      throw new RouteDefinitionError(where, 'a branch case needs exactly one of chain, aggregate');
    }
    if (c.when === undefined && i !== (def.branch?.length ?? 0) - 1) {
      throw new RouteDefinitionError(
        where,
        'only the last branch case may leave out `when` (it is the default)',
      );
    }
    return {
      when: c.when === undefined ? undefined : condition(c.when),
      plan: c.chain ? chain(c.chain, `${where}/chain`) : aggregate(c.aggregate!, `${where}/aggregate`),
    };
  });
  return { kind: 'composite', cases };
}

function aggregate(def: AggregateDefinition, at: string): CompositePlan {
  const legs = Object.entries(def.legs).map(([name, leg]) => compileLeg(name, leg, `${at}/legs/${name}`, []));
  if (legs.length === 0) throw new RouteDefinitionError(`${at}/legs`, 'an aggregate needs at least one leg');
  return { kind: 'aggregate', legs };
}

function chain(def: ChainDefinition, at: string): CompositePlan {
  const before: string[] = [];
  const legs = def.steps.map((step, i) => {
    const where = `${at}/steps/${i}`;
    if (before.includes(step.name)) {
      throw new RouteDefinitionError(`${where}/name`, `duplicate step name "${step.name}"`);
    }
    const leg = compileLeg(step.name, step, where, before);
    before.push(step.name);
    return leg;
  });
  return { kind: 'chain', legs };
}

function compileLeg(name: string, def: LegDefinition, at: string, earlier: readonly string[]): CompiledLeg {
  const upstream = upstreamOf(
    { service: def.service, url: def.url, version: def.version, strategy: def.strategy as StrategyName },
    at,
  );
  const template = (text: string, where: string, pathParams: boolean): Template => {
    let compiled: Template;
    try {
      compiled = compileTemplate(text, pathParams);
    } catch (error) {
      throw new RouteDefinitionError(where, (error as Error).message);
    }
    const unknown = stepsReferenced(compiled).find((s) => !earlier.includes(s));
    if (unknown !== undefined) {
      throw new RouteDefinitionError(
        where,
        `refers to step "${unknown}", which is not an earlier step of this chain`,
      );
    }
    return compiled;
  };
  return {
    name,
    upstream,
    path: template(def.path, `${at}/path`, true),
    query: Object.entries(def.query ?? {}).map(
      ([k, v]) =>
        [k, template(v, `${at}/query/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`, false)] as const,
    ),
    timeoutMs: def.timeout === undefined ? undefined : duration(def.timeout, `${at}/timeout`),
    hasFallback: Object.hasOwn(def, 'fallback'),
    fallback: def.fallback,
  };
}

function condition(when: WhenDefinition): (req: CompositeRequest) => boolean {
  const headers = Object.entries(when.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const);
  const query = Object.entries(when.query ?? {});
  const claims = Object.entries(when.claims ?? {});
  const holds = (actual: unknown, wanted: string) =>
    wanted === '*'
      ? actual !== undefined
      : (Array.isArray(actual) ? actual.map(String) : [String(actual)]).includes(wanted);
  return (req) =>
    // Own values only: `constructor` is no header of a request that did not send one.
    headers.every(([k, v]) => holds(Object.hasOwn(req.headers, k) ? req.headers[k] : undefined, v)) &&
    query.every(([k, v]) => holds(Object.hasOwn(req.query, k) ? req.query[k] : undefined, v)) &&
    claims.every(([k, v]) => {
      const c = req.claims;
      if (c === undefined) return false;
      // A scope condition holds when the token grants that scope, whatever else it grants.
      if (k === 'scope' && v !== '*') return grantedScopes(c).has(v);
      return Object.hasOwn(c, k) && holds(c[k], v);
    });
}

/** Every upstream a composite action calls (for breakers and bulkheads). */
export function compositeUpstreams(action: CompositeAction): Upstream[] {
  return action.cases.flatMap((c) => c.plan.legs.map((l) => l.upstream));
}
