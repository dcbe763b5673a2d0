import type { IncomingMessage } from 'node:http';
import { Headers } from '@flotilla/core';
import { parseDeadline } from '@flotilla/resilience';
import type { CompiledRoute } from '../routes/compile.js';

/** The route's deadline, or the client's when that is earlier. */
export function deadlineOf(route: CompiledRoute, req: IncomingMessage): number {
  const routeDeadline = Date.now() + route.timeoutMs;
  const clientDeadline = parseDeadline(req.headers[Headers.deadline]);
  return clientDeadline !== undefined && clientDeadline < routeDeadline ? clientDeadline : routeDeadline;
}
