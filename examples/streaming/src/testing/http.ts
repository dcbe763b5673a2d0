import { encodePrincipal } from '@flotilla/core';

/** The principal header the gateway would add for a verified token of `sub`. */
export const as = (sub: string): Record<string, string> => ({
  'x-flotilla-principal': encodePrincipal({ sub, scope: 'play:read' }),
});

/** A JSON request; answers status and parsed body. */
export async function call<T = Record<string, unknown>>(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; body: T }> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: response.status, body: (await response.json()) as T };
}
