import type { Claims } from './outcome.js';

/** Scopes granted by claims: OAuth2's space-separated `scope`, or an `scp` array (Azure AD, Okta). */
export function grantedScopes(claims: Claims): Set<string> {
  const out = new Set<string>();
  const add = (value: unknown) => {
    const list = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : [];
    for (const s of list) if (typeof s === 'string' && s !== '') out.add(s);
  };
  add(claims.scope);
  add(claims.scp);
  return out;
}

/** The required scopes the claims do not grant. */
export function missingScopes(claims: Claims, required: readonly string[]): string[] {
  if (required.length === 0) return [];
  const granted = grantedScopes(claims);
  return required.filter((s) => !granted.has(s));
}

/**
 * The first required claim the claims do not satisfy, or undefined. A required list means "one
 * of these"; an array claim (e.g. `groups`) satisfies it when it contains one of them.
 */
export function unmetClaim(claims: Claims, required: Record<string, string | string[]>): string | undefined {
  for (const [name, wanted] of Object.entries(required)) {
    const accepted = Array.isArray(wanted) ? wanted : [wanted];
    const actual = claims[name];
    const values = Array.isArray(actual) ? actual : [actual];
    if (
      !values.some(
        (v) =>
          (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') &&
          accepted.includes(String(v)),
      )
    )
      return name;
  }
  return undefined;
}
