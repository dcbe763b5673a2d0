/** The reason an upstream request is aborted when the client went away first. */
export const clientClosed = (): Error => new DOMException('the client closed the connection', 'AbortError');
