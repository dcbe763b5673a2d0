/**
 * Errors of the HTTP/1.1 upstream client. Codes follow undici's and llhttp's (`UND_ERR_*`,
 * `HPE_*`) so the gateway's classification (`isConnectionError`) and logs read the same whichever
 * client sent the request; socket errors are passed on as Node raised them (keeping `code`).
 */
export class Http1Error extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'Http1Error';
    this.code = code;
  }
}

/** A malformed upstream response (code `HPE_*`); the connection it came on is dropped. */
export function protocolError(code: string, message: string): Http1Error {
  return new Http1Error(code, `upstream response: ${message}`);
}

/** The dispatch options are unusable (bad header name or value, body length mismatch). */
export function invalidArgument(message: string): Http1Error {
  return new Http1Error('UND_ERR_INVALID_ARG', message);
}

/** The upstream closed the connection before the response ended. */
export function connectionReset(): Http1Error {
  return new Http1Error('ECONNRESET', 'the upstream closed the connection before the response ended');
}
