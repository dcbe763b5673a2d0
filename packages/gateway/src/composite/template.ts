/**
 * Templates of composite legs: `:name` path segments and `{{root.a.b}}` references, resolved per
 * request and URL-encoded. Deliberately small: dotted own-property paths only, no expressions,
 * so a template can neither run code nor reach an object's prototype.
 */

/** Where a reference may read from. */
export const TEMPLATE_ROOTS = ['params', 'query', 'headers', 'claims', 'steps'] as const;

/** What a template reads from. */
export interface TemplateScope {
  params: Readonly<Record<string, string | undefined>>;
  query: Readonly<Record<string, string>>;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  claims: Readonly<Record<string, unknown>> | undefined;
  steps: Readonly<Record<string, { status: number; body: unknown }>>;
}

/** Literal text and references, alternating (literal first). */
export interface Template {
  readonly source: string;
  readonly literals: readonly string[];
  readonly refs: readonly (readonly string[])[];
}

const REF = /\{\{\s*([^{}]*?)\s*\}\}|:([A-Za-z_][A-Za-z0-9_]*)/g;
const DOTTED = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;

/**
 * Compiles `text`; throws a message naming the bad reference. `pathParams` says whether `:name`
 * means a route param (paths) or is literal text (query values).
 */
export function compileTemplate(text: string, pathParams: boolean): Template {
  const literals: string[] = [];
  const refs: string[][] = [];
  let literal = '';
  let last = 0;
  for (let m = REF.exec(text); m !== null; m = REF.exec(text)) {
    if (m[2] !== undefined && !pathParams) continue;
    literal += text.slice(last, m.index);
    last = m.index + m[0].length;
    if (m[2] !== undefined) {
      refs.push(['params', m[2]]);
    } else {
      const expr = m[1] ?? '';
      if (!DOTTED.test(expr))
        throw new Error(`"{{${expr}}}" should be a dotted path like steps.user.body.id`);
      const path = expr.split('.');
      if (!(TEMPLATE_ROOTS as readonly string[]).includes(path[0]!)) {
        throw new Error(`"{{${expr}}}" should start with one of ${TEMPLATE_ROOTS.join(', ')}`);
      }
      if (path[0] === 'steps' && (path.length < 3 || (path[2] !== 'body' && path[2] !== 'status'))) {
        throw new Error(`"{{${expr}}}" should read steps.<name>.body[.field…] or steps.<name>.status`);
      }
      refs.push(path);
    }
    literals.push(literal);
    literal = '';
  }
  literals.push(literal + text.slice(last));
  return { source: text, literals, refs };
}

/** Step names a template refers to (checked at load against the steps before it). */
export function stepsReferenced(template: Template): string[] {
  return template.refs.filter((r) => r[0] === 'steps').map((r) => r[1]!);
}

/** Thrown when a reference has no scalar value for this request. */
export class UnresolvedReferenceError extends Error {}

/** The filled template; every reference's value is percent-encoded. */
export function renderTemplate(template: Template, scope: TemplateScope): string {
  const { literals, refs } = template;
  let out = literals[0]!;
  for (let i = 0; i < refs.length; i++) {
    const value = lookup(scope, refs[i]!);
    if (value === undefined) {
      throw new UnresolvedReferenceError(`${refs[i]!.join('.')} has no value for this request`);
    }
    out += encodeURIComponent(value) + literals[i + 1]!;
  }
  return out;
}

/** The value at `path` when it is a string, number or boolean; own properties only. */
export function lookup(scope: TemplateScope, path: readonly string[]): string | undefined {
  let node: unknown = scope;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  if (Array.isArray(node)) node = node[0];
  return typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean'
    ? String(node)
    : undefined;
}
