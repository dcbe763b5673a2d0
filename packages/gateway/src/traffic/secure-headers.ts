/**
 * Response headers every gateway response carries unless the upstream set its own (OWASP REST
 * Security and Secure Headers projects). They are safe for JSON APIs; an upstream serving HTML
 * that needs framing or a richer CSP sends its own values, which win.
 */
export const SECURE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  /** Browsers ignore HSTS over plain http, so sending it always is harmless. */
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'x-permitted-cross-domain-policies': 'none',
});

/** Headers that advertise the upstream's software and help nobody but an attacker. */
export const FINGERPRINT_HEADERS: readonly string[] = [
  'x-powered-by',
  'x-aspnet-version',
  'x-aspnetmvc-version',
];

/** {@link SECURE_HEADERS} as a list: every response goes through them, iterated, not Object.entries per call. */
export const SECURE_ENTRIES = Object.entries(SECURE_HEADERS);

/** Adds the secure headers the response lacks and drops fingerprinting ones, in place. */
export function applySecureHeaders<H extends Record<string, unknown>>(headers: H): H {
  const target = headers as Record<string, unknown>;
  for (const name of FINGERPRINT_HEADERS) if (target[name] !== undefined) delete target[name];
  for (let i = 0; i < SECURE_ENTRIES.length; i++) {
    const entry = SECURE_ENTRIES[i]!;
    if (target[entry[0]] === undefined) target[entry[0]] = entry[1];
  }
  return headers;
}
