import { ConfigurationError } from '@flotilla/core';

/** Where a routes error sits: JSON pointer into the document, and its place in the file when known. */
export interface RoutesErrorLocation {
  pointer: string;
  source: string;
  line?: number;
  column?: number;
}

/** A routes file that cannot be used; the message starts with `file:line:column`. */
export class RoutesError extends ConfigurationError {
  static override readonly defaultCode: string = 'ROUTES_INVALID';
}

/** A semantic error found while compiling routes, before it is mapped to a line. */
export class RouteDefinitionError extends Error {
  constructor(
    readonly pointer: string,
    message: string,
  ) {
    super(message);
  }
}
