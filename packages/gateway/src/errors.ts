import { FlotillaError } from '@flotilla/core';
import type { UpstreamExchange } from './proxy/exchange.js';

/** No UP instance of the target service (or every one was tried already). */
export class NoInstanceError extends FlotillaError {
  static override readonly defaultCode: string = 'NO_INSTANCE';
  static override readonly defaultStatus: number = 503;
}

/** The upstream could not be reached or broke the connection before answering. */
export class BadGatewayError extends FlotillaError {
  static override readonly defaultCode: string = 'BAD_GATEWAY';
  static override readonly defaultStatus: number = 502;
}

/** The request body is larger than the route allows. */
export class PayloadTooLargeError extends FlotillaError {
  static override readonly defaultCode: string = 'PAYLOAD_TOO_LARGE';
  static override readonly defaultStatus: number = 413;
}

/**
 * An upstream's 5xx answer as the circuit breaker records it: a failure carrying the status.
 * The fast-path front hands it to the breaker itself; the node:http path throws the subclass.
 */
export class UpstreamStatusFailure extends Error {
  constructor(readonly status: number) {
    super(`upstream answered ${status}`);
  }
}

/**
 * The upstream answered 5xx. Thrown inside the policies so the circuit breaker and outlier
 * ejection count it as a failure; the gateway then relays the upstream's own response.
 */
export class UpstreamStatusError extends UpstreamStatusFailure {
  constructor(readonly exchange: UpstreamExchange) {
    super(exchange.statusCode);
  }
}
