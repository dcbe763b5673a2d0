import type { IncomingMessage } from 'node:http';
import type { Problem } from '@flotilla/core';
import type { Claims } from '../auth/outcome.js';
import type { RouteFeatures } from './build.js';

/** The verdict on an upgrade request: go on (as `principal`), or answer `problem`. */
export type UpgradeAdmission =
  | { ok: true; principal: string | undefined }
  | { ok: false; problem: Problem; headers: Record<string, string> };

/** Authentication and rate limit of an upgrade (WebSocket) request; CORS and cache do not apply. */
export async function admitUpgrade(features: RouteFeatures, req: IncomingMessage): Promise<UpgradeAdmission> {
  let principal: string | undefined;
  let claims: Claims | undefined;
  if (features.auth) {
    const outcome = await features.auth.authenticate(req);
    if (!outcome.ok) return { ok: false, problem: outcome.problem, headers: outcome.headers };
    claims = outcome.claims;
    if (claims !== undefined) principal = features.auth.principal(claims);
  }
  if (features.rateLimit) {
    const outcome = await features.rateLimit.check(req, claims);
    if (!outcome.allowed) return { ok: false, problem: outcome.problem, headers: outcome.headers };
  }
  return { ok: true, principal };
}
