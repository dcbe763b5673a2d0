/**
 * The authenticated caller as the gateway forwards it to services: verified token claims as
 * base64url JSON in the `x-flotilla-principal` header (`Headers.principal`).
 */
export interface Principal {
  readonly sub?: string;
  readonly scope?: string;
  readonly [claim: string]: unknown;
}

/** Encodes claims as the principal header value. */
export function encodePrincipal(claims: Principal): string {
  return Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
}

/** Decodes a principal header value; undefined when absent or unreadable. */
export function decodePrincipal(value: string | undefined): Principal | undefined {
  if (!value) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown;
    return typeof claims === 'object' && claims !== null && !Array.isArray(claims)
      ? (claims as Principal)
      : undefined;
  } catch {
    return undefined;
  }
}
