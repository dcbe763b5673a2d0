import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigurationError } from '@flotilla/core';
import { parse as parseYaml } from 'yaml';
import { ForbiddenError, UnauthorizedError } from '../errors.js';
import { isTree } from '../flatten.js';

/**
 * Bearer tokens. A service token reads the config of the services it is mapped to, with
 * secrets decrypted; the operator token reads everything and may encrypt and write. Without a
 * token a caller reads config with `{cipher}` values left encrypted (or nothing, with
 * `requireAuth`). Tokens are kept as SHA-256 digests and compared in constant time.
 */

/** Who is calling. */
export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'operator' }
  | { kind: 'service'; services: ReadonlySet<string> };

/** Environment variables tokens come from (see the README). */
export interface TokenEnvironment {
  FLOTILLA_CONFIG_TOKENS?: string;
  FLOTILLA_CONFIG_TOKENS_FILE?: string;
  FLOTILLA_CONFIG_OPERATOR_TOKEN?: string;
  FLOTILLA_CONFIG_OPERATOR_TOKEN_FILE?: string;
}

const MIN_TOKEN_LENGTH = 16;
const SHA256_PREFIX = 'sha256:';

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class TokenAuth {
  /** Token digest (hex) → services it may read; `*` for all. */
  private readonly serviceTokens = new Map<string, Set<string>>();
  private readonly operatorDigests: Buffer[] = [];

  /** Adds a service token, plain or as `sha256:<hex>`. */
  addServiceToken(service: string, token: string): void {
    const hex = this.digestOf(token, `token of ${service}`).toString('hex');
    const set = this.serviceTokens.get(hex) ?? new Set<string>();
    set.add(service);
    this.serviceTokens.set(hex, set);
  }

  /** Adds an operator token, plain or as `sha256:<hex>`. */
  addOperatorToken(token: string): void {
    this.operatorDigests.push(this.digestOf(token, 'operator token'));
  }

  /** Whether any token is configured. */
  get configured(): boolean {
    return this.serviceTokens.size > 0 || this.operatorDigests.length > 0;
  }

  /**
   * Tokens from `FLOTILLA_CONFIG_TOKENS` (`service=token,…`), `FLOTILLA_CONFIG_TOKENS_FILE`
   * (YAML mapping service → token or list of tokens) and `FLOTILLA_CONFIG_OPERATOR_TOKEN[_FILE]`.
   */
  static fromEnv(env: TokenEnvironment = process.env as TokenEnvironment): TokenAuth {
    const auth = new TokenAuth();
    for (const entry of (env.FLOTILLA_CONFIG_TOKENS ?? '').split(',')) {
      if (entry.trim() === '') continue;
      const eq = entry.indexOf('=');
      if (eq <= 0)
        throw new ConfigurationError('FLOTILLA_CONFIG_TOKENS should be service=token[,service=token…]');
      auth.addServiceToken(entry.slice(0, eq).trim(), entry.slice(eq + 1).trim());
    }
    const file = env.FLOTILLA_CONFIG_TOKENS_FILE;
    if (file) {
      const parsed: unknown = parseYaml(readText(file, 'FLOTILLA_CONFIG_TOKENS_FILE'));
      if (!isTree(parsed)) {
        throw new ConfigurationError(
          `FLOTILLA_CONFIG_TOKENS_FILE ${file}: should map service names to tokens`,
        );
      }
      for (const [service, tokens] of Object.entries(parsed)) {
        for (const token of Array.isArray(tokens) ? tokens : [tokens]) {
          if (typeof token !== 'string') {
            throw new ConfigurationError(
              `FLOTILLA_CONFIG_TOKENS_FILE ${file}: token of ${service} should be a string`,
            );
          }
          auth.addServiceToken(service, token);
        }
      }
    }
    if (env.FLOTILLA_CONFIG_OPERATOR_TOKEN) auth.addOperatorToken(env.FLOTILLA_CONFIG_OPERATOR_TOKEN.trim());
    if (env.FLOTILLA_CONFIG_OPERATOR_TOKEN_FILE) {
      auth.addOperatorToken(
        readText(env.FLOTILLA_CONFIG_OPERATOR_TOKEN_FILE, 'FLOTILLA_CONFIG_OPERATOR_TOKEN_FILE').trim(),
      );
    }
    return auth;
  }

  /**
   * The caller of a request, from `Authorization: Bearer <token>` or `Basic` (any user name,
   * the token as password — what Spring Cloud Config clients send). A token that matches
   * nothing is a 401, never a silent downgrade to anonymous.
   */
  authenticate(authorization: string | undefined): Principal {
    if (authorization === undefined || authorization === '') return { kind: 'anonymous' };
    const token = extractToken(authorization);
    if (token === undefined) throw new UnauthorizedError('Authorization should be "Bearer <token>" or Basic');
    const d = digest(token);
    if (this.operatorDigests.some((o) => timingSafeEqual(o, d))) return { kind: 'operator' };
    // Looking the digest up in a map leaks no usable timing: a caller cannot choose digest bytes.
    const services = this.serviceTokens.get(d.toString('hex'));
    if (services) return { kind: 'service', services };
    throw new UnauthorizedError('unknown token');
  }

  private digestOf(token: string, what: string): Buffer {
    if (token.startsWith(SHA256_PREFIX)) {
      const hex = token.slice(SHA256_PREFIX.length);
      if (!/^[0-9a-f]{64}$/i.test(hex))
        throw new ConfigurationError(`${what}: sha256: should be 64 hex digits`);
      return Buffer.from(hex, 'hex');
    }
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new ConfigurationError(`${what} should be at least ${MIN_TOKEN_LENGTH} characters`);
    }
    return digest(token);
  }
}

function readText(path: string, variable: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigurationError(`${variable}: cannot read ${path}`, { cause });
  }
}

function extractToken(header: string): string | undefined {
  const [scheme, value] = header.split(/\s+/, 2);
  if (!value) return undefined;
  if (scheme?.toLowerCase() === 'bearer') return value;
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  }
  return undefined;
}

/** Whether `principal` may read `service` with secrets decrypted; throws 403 for a token of another service. */
export function mayDecrypt(principal: Principal, service: string): boolean {
  if (principal.kind === 'operator') return true;
  if (principal.kind === 'anonymous') return false;
  if (principal.services.has(service) || principal.services.has('*')) return true;
  throw new ForbiddenError(`this token may not read the config of "${service}"`);
}

/** Throws unless `principal` is the operator. */
export function requireOperator(principal: Principal): void {
  if (principal.kind === 'operator') return;
  if (principal.kind === 'anonymous') throw new UnauthorizedError('this needs the operator token');
  throw new ForbiddenError('this needs the operator token, not a service token');
}
