import { FlotillaError, registerErrorClass, UnavailableError } from '@flotilla/core';

/** The balancer has no instance of the service to offer (none registered, none UP). 503. */
export class NoInstanceAvailableError extends UnavailableError {
  static override readonly defaultCode: string = 'NO_INSTANCE_AVAILABLE';
}

/**
 * The registry answered a request of the client with an error (or could not be reached, with
 * the network error as `cause`). `code` is the registry's problem code when it sent one.
 */
export class RegistryRequestError extends FlotillaError {
  static override readonly defaultCode: string = 'REGISTRY_REQUEST_FAILED';
  static override readonly defaultStatus: number = 502;
}

registerErrorClass(NoInstanceAvailableError);
registerErrorClass(RegistryRequestError);
