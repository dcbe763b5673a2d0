import type { CompiledLeg, CompositeAction, CompositePlan, CompositeRequest } from './compile.js';
import { renderTemplate, type TemplateScope } from './template.js';

/** What one leg answered: its status and parsed JSON body. */
export interface LegResult {
  status: number;
  body: unknown;
}

/** Calls one leg's upstream at `path` (query included); rejects when it fails. */
export type LegCaller = (leg: CompiledLeg, path: string) => Promise<LegResult>;

/** The merged answer of a composite route. */
export type CompositeOutcome =
  | { ok: true; body: Record<string, unknown>; partial: string[] }
  | { ok: false; leg: string; reason: string }
  | { ok: false; leg: undefined; reason: string };

/**
 * Runs the first case whose condition holds. Each leg that fails answers its fallback (and is
 * listed in `partial`); a leg without a fallback fails the whole route, named.
 */
export async function runComposite(
  action: CompositeAction,
  request: CompositeRequest & { params: TemplateScope['params'] },
  call: LegCaller,
): Promise<CompositeOutcome> {
  const chosen = action.cases.find((c) => c.when === undefined || c.when(request));
  if (!chosen) return { ok: false, leg: undefined, reason: 'no branch case holds for this request' };
  const scope: TemplateScope = {
    params: request.params,
    query: request.query,
    headers: request.headers,
    claims: request.claims,
    steps: {},
  };
  return runPlan(chosen.plan, scope, call);
}

async function runPlan(
  plan: CompositePlan,
  scope: TemplateScope,
  call: LegCaller,
): Promise<CompositeOutcome> {
  const body: Record<string, unknown> = {};
  const partial: string[] = [];
  const steps = scope.steps as Record<string, LegResult>;
  if (plan.kind === 'aggregate') {
    // Each leg's path is rendered inside its own promise: a reference without a value is that
    // leg's failure (its fallback applies), as in a chain, never a throw that would leave the
    // legs already started unawaited (their failures then ended the process).
    const settled = await Promise.allSettled(plan.legs.map(async (leg) => call(leg, pathOf(leg, scope))));
    for (let i = 0; i < plan.legs.length; i++) {
      const leg = plan.legs[i]!;
      const result = settled[i]!;
      if (result.status === 'fulfilled') body[leg.name] = result.value.body;
      else if (leg.hasFallback) {
        body[leg.name] = leg.fallback;
        partial.push(leg.name);
      } else return { ok: false, leg: leg.name, reason: reasonOf(result.reason) };
    }
    return { ok: true, body, partial };
  }
  for (const leg of plan.legs) {
    let result: LegResult;
    try {
      // Rendering is inside the try: a reference to a field an earlier step lacks is this
      // step's failure (its fallback applies), not the route's.
      result = await call(leg, pathOf(leg, scope));
    } catch (error) {
      if (!leg.hasFallback) return { ok: false, leg: leg.name, reason: reasonOf(error) };
      result = { status: 200, body: leg.fallback };
      partial.push(leg.name);
    }
    steps[leg.name] = result;
    body[leg.name] = result.body;
  }
  return { ok: true, body, partial };
}

function pathOf(leg: CompiledLeg, scope: TemplateScope): string {
  let path = renderTemplate(leg.path, scope);
  if (leg.query.length > 0) {
    const pairs = leg.query.map(([k, v]) => `${encodeURIComponent(k)}=${renderTemplate(v, scope)}`);
    path += (path.includes('?') ? '&' : '?') + pairs.join('&');
  }
  return path;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
