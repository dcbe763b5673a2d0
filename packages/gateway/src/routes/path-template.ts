/** A path with `:name` and `*` placeholders, filled from a request's route params. */
export interface PathTemplate {
  readonly source: string;
  /** Literal text and placeholder names, alternating (literal first). */
  readonly parts: readonly string[];
}

/** Splits `/v2/:id/*` into literals and placeholders once, at load. */
export function compilePathTemplate(source: string): PathTemplate {
  const parts: string[] = [];
  let literal = '';
  const re = /:([A-Za-z_][A-Za-z0-9_]*)|\*/g;
  let last = 0;
  for (let m = re.exec(source); m !== null; m = re.exec(source)) {
    literal += source.slice(last, m.index);
    parts.push(literal, m[1] ?? '*');
    literal = '';
    last = m.index + m[0].length;
  }
  parts.push(literal + source.slice(last));
  return { source, parts };
}

/** Fills the template; param values are percent-encoded again (the wildcard keeps its slashes). */
export function renderPathTemplate(
  template: PathTemplate,
  params: Readonly<Record<string, string | undefined>>,
): string {
  const parts = template.parts;
  if (parts.length === 1) return parts[0]!;
  let out = parts[0]!;
  for (let i = 1; i < parts.length; i += 2) {
    const name = parts[i]!;
    const value = params[name] ?? '';
    out += name === '*' ? value.split('/').map(encodeURIComponent).join('/') : encodeURIComponent(value);
    out += parts[i + 1]!;
  }
  return out;
}
