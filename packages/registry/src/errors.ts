import { FlotillaError, NotFoundError, registerErrorClass, UnavailableError } from '@flotilla/core';

/** The instance asked for is not registered. 404, code `INSTANCE_NOT_FOUND`. */
export class InstanceNotFoundError extends NotFoundError {
  static override readonly defaultCode: string = 'INSTANCE_NOT_FOUND';

  static of(service: string, instanceId: string): InstanceNotFoundError {
    return new InstanceNotFoundError(`Instance "${instanceId}" of service "${service}" is not registered`, {
      data: { service, instanceId },
    });
  }
}

/**
 * A renewal for an instance the registry does not know (evicted, never registered, registry
 * restarted without a snapshot). 404, code `INSTANCE_NOT_REGISTERED`: the client must register
 * again, as Eureka clients do on a 404 heartbeat.
 */
export class NotRegisteredError extends NotFoundError {
  static override readonly defaultCode: string = 'INSTANCE_NOT_REGISTERED';

  static of(service: string, instanceId: string): NotRegisteredError {
    return new NotRegisteredError(
      `Instance "${instanceId}" of service "${service}" is not registered (its lease expired or it never registered): register again`,
      { data: { service, instanceId, action: 'register' } },
    );
  }
}

/** The store (PostgreSQL, etcd) failed or cannot be reached. 503, retryable. */
export class StoreUnavailableError extends UnavailableError {
  static override readonly defaultCode: string = 'REGISTRY_STORE_UNAVAILABLE';
}

/** The configured store cannot do what was asked (see its capabilities). 501. */
export class UnsupportedByStoreError extends FlotillaError {
  static override readonly defaultCode: string = 'UNSUPPORTED_BY_STORE';
  static override readonly defaultStatus: number = 501;
}

for (const ctor of [
  InstanceNotFoundError,
  NotRegisteredError,
  StoreUnavailableError,
  UnsupportedByStoreError,
]) {
  registerErrorClass(ctor);
}
