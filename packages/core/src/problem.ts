import type { ServerResponse } from 'node:http';
import { isFlotillaError } from './errors.js';

/** Media type of RFC 9457 problem details. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** One invalid field in a problem's `errors` list. `field` is a JSON pointer (`/body/name`). */
export interface FieldError {
  field: string;
  message: string;
}

/** RFC 9457 problem details, with Flotilla's stable `code` extension. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Prefix of problem `type` URIs; the code, in kebab case, follows it. */
export const PROBLEM_TYPE_BASE = 'urn:flotilla:problem:';

export interface ProblemInit {
  status: number;
  code: string;
  detail?: string;
  title?: string;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

/** Builds a problem; `type` and `title` are derived from `code` and `status` when not given. */
export function problem(init: ProblemInit): Problem {
  const { status, code, title, ...rest } = init;
  const out: Problem = {
    type: `${PROBLEM_TYPE_BASE}${code.toLowerCase().replaceAll('_', '-')}`,
    title: title ?? TITLES[status] ?? 'Error',
    status,
    code,
  };
  for (const [key, value] of Object.entries(rest)) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * Maps any thrown value to a problem. Flotilla errors keep their status, code and field
 * errors; anything else becomes an opaque 500 so internals never leak to clients.
 */
export function errorToProblem(error: unknown, instance?: string): Problem {
  if (isFlotillaError(error)) {
    const errors = error.data?.errors;
    return problem({
      status: error.status,
      code: error.code,
      detail: error.message,
      instance,
      errors: Array.isArray(errors) ? (errors as FieldError[]) : undefined,
      retryable: error.retryable || undefined,
    });
  }
  return problem({ status: 500, code: 'INTERNAL', detail: 'Internal error', instance });
}

/** Writes `p` as an `application/problem+json` response on a node:http response. */
export function sendProblem(res: ServerResponse, p: Problem, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(p);
  res.writeHead(p.status, {
    ...headers,
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
