import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from './errors.js';
import { errorToProblem, PROBLEM_CONTENT_TYPE, problem, sendProblem } from './problem.js';

describe('problem', () => {
  it('derives type and title from code and status', () => {
    expect(problem({ status: 404, code: 'NOT_FOUND', detail: 'no such service: catalog' })).toEqual({
      type: 'urn:flotilla:problem:not-found',
      title: 'Not Found',
      status: 404,
      code: 'NOT_FOUND',
      detail: 'no such service: catalog',
    });
  });

  it('keeps extension members and drops undefined ones', () => {
    const p = problem({ status: 429, code: 'RATE_LIMITED', retryAfterMs: 250, instance: undefined });
    expect(p.retryAfterMs).toBe(250);
    expect('instance' in p).toBe(false);
  });
});

describe('errorToProblem', () => {
  it('names the invalid fields of a ValidationError', () => {
    const err = new ValidationError('Invalid body', {
      data: { errors: [{ field: '/body/port', message: 'Expected integer' }] },
    });
    expect(errorToProblem(err, '/v1/services')).toMatchObject({
      status: 400,
      code: 'VALIDATION_FAILED',
      instance: '/v1/services',
      errors: [{ field: '/body/port', message: 'Expected integer' }],
    });
  });

  it('marks retryable errors and keeps the status of typed errors', () => {
    expect(errorToProblem(new NotFoundError('gone'))).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    expect(errorToProblem(new NotFoundError('gone')).retryable).toBeUndefined();
  });

  it('hides the message of unexpected errors', () => {
    const p = errorToProblem(new Error('password=hunter2 leaked in a stack'));
    expect(p).toMatchObject({ status: 500, code: 'INTERNAL', detail: 'Internal error' });
    expect(JSON.stringify(p)).not.toContain('hunter2');
  });
});

describe('sendProblem', () => {
  it('answers over HTTP with application/problem+json', async () => {
    const server = createServer((_req, res) => sendProblem(res, problem({ status: 400, code: 'BAD' })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/`);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe(PROBLEM_CONTENT_TYPE);
      expect(await res.json()).toMatchObject({ code: 'BAD', title: 'Bad Request' });
    } finally {
      server.close();
    }
  });
});
