import { errorToProblem, isFlotillaError, type Problem, problem, ValidationError } from '@flotilla/core';

/** Fastify's own errors (body parsing, limits) as problems that name the offending part. */
const FASTIFY_ERRORS: Record<string, { code: string; field: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'INVALID_JSON', field: '/body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'INVALID_JSON', field: '/body' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'BODY_TOO_LARGE', field: '/body' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', field: '/headers/content-type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'INVALID_CONTENT_LENGTH', field: '/headers/content-length' },
  FST_ERR_BAD_URL: { code: 'BAD_URL', field: '/path' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'URI_TOO_LONG', field: '/path' },
};

/** Maps anything a handler or fastify threw to a problem; unexpected errors become an opaque 500. */
export function toProblem(error: unknown, instance: string): Problem {
  if (isFlotillaError(error)) return errorToProblem(error, instance);
  const e = error as { code?: unknown; statusCode?: unknown; message?: unknown; name?: unknown };
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  const message = typeof e.message === 'string' ? e.message : 'Bad request';
  const known = typeof e.code === 'string' ? FASTIFY_ERRORS[e.code] : undefined;
  if (known) {
    return problem({
      status,
      code: known.code,
      detail: message,
      instance,
      errors: [{ field: known.field, message }],
    });
  }
  if (e.name === 'SyntaxError' && status === 400) {
    // secure-json-parse's refusals (__proto__ / constructor keys) and plain JSON syntax errors.
    return problem({
      status,
      code: 'INVALID_JSON',
      detail: message,
      instance,
      errors: [{ field: '/body', message }],
    });
  }
  if (status >= 400 && status < 500) {
    return problem({ status, code: 'BAD_REQUEST', detail: message, instance });
  }
  return errorToProblem(error, instance);
}

/** A `ValidationError` naming one field. */
export function fieldError(field: string, message: string): ValidationError {
  return new ValidationError(`${field}: ${message}`, { data: { errors: [{ field, message }] } });
}
