import { FlotillaError, hasErrorCode } from '@flotilla/core';

/** No principal: the request did not come through the gateway's authentication. 401. */
export class UnauthenticatedError extends FlotillaError {
  static override readonly defaultCode: string = 'UNAUTHENTICATED';
  static override readonly defaultStatus: number = 401;
}

/** The account may not play (unknown, cancelled). 403. */
export class NotEntitledError extends FlotillaError {
  static override readonly defaultCode: string = 'NOT_ENTITLED';
  static override readonly defaultStatus: number = 403;
}

/**
 * A typed call answered 404 NOT_FOUND: a definite "no such thing", not a failure to fall back
 * from. (A 404 ROUTE_NOT_FOUND — a caller and service out of step — is a failure.)
 */
export const isRemoteNotFound = (error: unknown): boolean =>
  hasErrorCode(error, 'NOT_FOUND') && error.status === 404;
