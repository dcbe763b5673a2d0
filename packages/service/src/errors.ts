import { FlotillaError, type Problem, registerErrorClass, UnavailableError } from '@flotilla/core';

/**
 * Another service answered a typed call with an error. `code`, `status` and the field errors
 * (`data.problem.errors`) are the remote problem's, so a caller branches on them exactly as
 * the remote service meant: `e.code === 'NOT_FOUND'`, `e.status === 400`.
 */
export class RemoteError extends FlotillaError {
  static override readonly defaultCode: string = 'REMOTE_ERROR';
  static override readonly defaultStatus: number = 502;

  /** The problem document the service answered with. */
  get problem(): Problem | undefined {
    return this.data?.problem as Problem | undefined;
  }
}

/** A declared dependency was not ready within the start-up timeout. */
export class DependencyTimeoutError extends UnavailableError {
  static override readonly defaultCode: string = 'DEPENDENCY_TIMEOUT';
}

/** The instance is shutting down and did not handle the request; safe to send elsewhere. */
export class ShuttingDownError extends UnavailableError {
  static override readonly defaultCode: string = 'SHUTTING_DOWN';
}

registerErrorClass(RemoteError);
registerErrorClass(DependencyTimeoutError);
registerErrorClass(ShuttingDownError);
