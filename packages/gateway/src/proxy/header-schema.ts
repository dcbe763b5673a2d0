import { Type } from '@sinclair/typebox';
import { TOKEN } from './http1/request-head.js';

/**
 * Schemas for header names and values the gateway writes, so a route file that names one
 * node:http would refuse is refused when it loads, with its line, instead of failing every answer.
 */

/** A header name the gateway writes: an RFC 9110 token. */
export const HeaderName = Type.String({ pattern: TOKEN.source, description: 'a header name (token)' });

/** A header value: tab, space, visible ASCII and obs-text only (a CR or LF would end the header). */
export const HeaderValue = Type.String({
  pattern: '^[\\t\\x20-\\x7e\\x80-\\xff]*$',
  description: 'a header value node:http can write',
});
