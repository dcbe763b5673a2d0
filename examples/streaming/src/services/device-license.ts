import { createHash } from 'node:crypto';
import { ValidationError } from '@flotilla/core';
import { createService } from '@flotilla/service';
import { deviceLicense } from '../contracts/device-license.js';
import { migrationsOf, type ServiceOverrides } from './overrides.js';

const HOUR_MS = 3_600_000;
/** A license lasts a day, counted from the start of the hour it was issued in. */
const VALIDITY_MS = 24 * HOUR_MS;

const digest = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest('hex');

/** Hex digest as a UUID-shaped key id, the form DRM systems (CENC `KID`) use. */
const asUuid = (hex: string) =>
  `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;

interface ProfileRow {
  drm: 'widevine' | 'playready' | 'fairplay';
  security_level: 'L1' | 'L3';
}

/** DRM licenses: deterministic per user, title, device and hour, recorded in a ledger. */
export function createDeviceLicenseService(overrides: ServiceOverrides = {}) {
  return createService({
    name: 'device-license',
    version: '1.0.0',
    contract: deviceLicense,
    database: { migrations: migrationsOf('device-license') },
    routes: {
      issue: async ({ body }, ctx) => {
        const { rows } = await ctx.db.query<ProfileRow>(
          'SELECT drm, security_level FROM device_profiles WHERE device_type = $1',
          [body.deviceType],
        );
        const profile = rows[0];
        // The contract admits the device classes the platform knows; this table decides which
        // ones have a DRM profile today, so a class can be withdrawn without a deploy.
        if (!profile) {
          throw new ValidationError(`No DRM profile for device type "${body.deviceType}"`, {
            data: { errors: [{ field: '/body/deviceType', message: 'Unknown device type' }] },
          });
        }
        // The same hour gives the same expiry and so the same license id: a retried or repeated
        // request re-issues the license it already has instead of piling up new ones.
        const expiresAt = new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS + VALIDITY_MS);
        const licenseId = `lic-${digest(body.userId, body.titleId, body.deviceType, expiresAt.toISOString()).slice(0, 24)}`;
        const keyId = asUuid(digest('content-key', body.titleId));
        await ctx.db.query(
          `INSERT INTO licenses (license_id, user_id, title_id, device_type, key_id, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (license_id) DO NOTHING`,
          [licenseId, body.userId, body.titleId, body.deviceType, keyId, expiresAt],
        );
        return {
          licenseId,
          keyId,
          drm: profile.drm,
          securityLevel: profile.security_level,
          deviceType: body.deviceType,
          expiresAt: expiresAt.toISOString(),
        };
      },
    },
    ...overrides,
  });
}
