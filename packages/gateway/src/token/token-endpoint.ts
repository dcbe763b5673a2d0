import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientRegistry, IssuerClient } from './clients.js';

/** Form bodies past this size are refused; a client-credentials request is a few hundred bytes. */
const MAX_BODY_BYTES = 16_384;

/** RFC 6749 §5.2 error codes. */
type OAuthError = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | 'invalid_scope';

/** What the token endpoint needs from the issuer. */
export interface TokenGrantor {
  clients: ClientRegistry;
  /** Lifetime of issued tokens in seconds. */
  ttlSeconds: number;
  sign(client: IssuerClient, scopes: string[]): Promise<string>;
}

/** Answers `POST /oauth/token` with the client-credentials grant (RFC 6749 §4.4). */
export async function handleTokenRequest(req: IncomingMessage, res: ServerResponse, grantor: TokenGrantor) {
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST' }).end();
    return;
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    return oauthError(res, 400, 'invalid_request', 'The body should be application/x-www-form-urlencoded');
  }
  const body = await readBody(req);
  if (body === undefined) return oauthError(res, 400, 'invalid_request', 'The body is too large');
  const form = new URLSearchParams(body);
  // RFC 6749 §3.2: parameters must not be repeated.
  for (const name of ['grant_type', 'scope', 'client_id', 'client_secret']) {
    if (form.getAll(name).length > 1) return oauthError(res, 400, 'invalid_request', `${name} is repeated`);
  }
  const basic = basicCredentials(req.headers.authorization);
  const inBody = form.get('client_id') !== null || form.get('client_secret') !== null;
  if (basic && inBody) {
    return oauthError(res, 400, 'invalid_request', 'Use one client authentication method, not two');
  }
  const clientId = basic?.id ?? form.get('client_id') ?? '';
  const secret = basic?.secret ?? form.get('client_secret') ?? '';
  const client = clientId && secret ? grantor.clients.authenticate(clientId, secret) : undefined;
  if (client === undefined) {
    // RFC 6749 §5.2: 401 with a challenge for the scheme the client used (Basic is the one we offer).
    return oauthError(res, 401, 'invalid_client', 'Client authentication failed', {
      'www-authenticate': 'Basic realm="flotilla"',
    });
  }
  const grant = form.get('grant_type');
  if (grant === null) return oauthError(res, 400, 'invalid_request', 'grant_type is required');
  if (grant !== 'client_credentials') {
    return oauthError(res, 400, 'unsupported_grant_type', 'Only client_credentials is supported');
  }
  const asked = (form.get('scope') ?? '').split(' ').filter(Boolean);
  const denied = asked.filter((s) => !client.scopes.includes(s));
  if (denied.length > 0) {
    return oauthError(res, 400, 'invalid_scope', `The client may not ask for ${denied.join(' ')}`);
  }
  const scopes = asked.length > 0 ? [...new Set(asked)] : client.scopes;
  const token = await grantor.sign(client, scopes);
  send(res, 200, {
    access_token: token,
    token_type: 'Bearer',
    expires_in: grantor.ttlSeconds,
    scope: scopes.join(' '),
  });
}

/** RFC 6749 §2.3.1: the id and secret are form-urlencoded before being put in Basic. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    const formDecode = (s: string) => decodeURIComponent(s.replaceAll('+', ' '));
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function oauthError(
  res: ServerResponse,
  status: number,
  error: OAuthError,
  description: string,
  headers: Record<string, string> = {},
) {
  send(res, status, { error, error_description: description }, headers);
}

/** RFC 6749 §5.1: token responses must not be cached. */
function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      ...headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      pragma: 'no-cache',
    })
    .end(text);
}
