import { FlotillaError, registerErrorClass } from '@flotilla/core';

/** The adapter cannot do what was asked (see its `capabilities`). */
export class UnsupportedCapabilityError extends FlotillaError {
  static override readonly defaultCode: string = 'BUS_UNSUPPORTED';
  static override readonly defaultStatus: number = 501;
}

/** The bus (or one of its subscriptions) was closed. */
export class BusClosedError extends FlotillaError {
  static override readonly defaultCode: string = 'BUS_CLOSED';
  static override readonly defaultStatus: number = 503;
}

registerErrorClass(UnsupportedCapabilityError);
registerErrorClass(BusClosedError);
