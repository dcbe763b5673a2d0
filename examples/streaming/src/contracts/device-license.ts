import { defineContract, endpoint } from '@flotilla/service';
import { Type } from '@sinclair/typebox';
import { DeviceType, TitleId, UserId } from './common.js';

export const License = Type.Object({
  /** Same user, title, device and expiry → same id: asking twice issues nothing new. */
  licenseId: Type.String(),
  /** Id of the title's content key (the same for every viewer of the title). */
  keyId: Type.String(),
  drm: Type.Union([Type.Literal('widevine'), Type.Literal('playready'), Type.Literal('fairplay')]),
  securityLevel: Type.Union([Type.Literal('L1'), Type.Literal('L3')]),
  deviceType: DeviceType,
  expiresAt: Type.String({ description: 'ISO 8601' }),
});

/** DRM licenses for a device. */
export const deviceLicense = defineContract({
  service: 'device-license',
  endpoints: {
    issue: endpoint({
      method: 'POST',
      path: '/licenses',
      summary: 'Issues (or re-issues) the license of a title for a device',
      body: Type.Object({ userId: UserId, titleId: TitleId, deviceType: DeviceType }),
      response: License,
      // Deterministic: a repeated call returns the same license, so retries are safe.
      idempotent: true,
    }),
  },
});
