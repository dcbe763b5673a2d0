import { Type } from '@sinclair/typebox';

/** Schemas several contracts share, so a title id or a device type means the same everywhere. */

/** IMDb-style title id, e.g. `tt0133093`. */
export const TitleId = Type.String({ pattern: '^tt[0-9]{7,9}$' });

/** Account id (the `sub` of the gateway's principal). */
export const UserId = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' });

/** Device classes with a DRM profile; anything else is refused with a 400 naming the field. */
export const DeviceType = Type.Union([
  Type.Literal('tv'),
  Type.Literal('web'),
  Type.Literal('mobile'),
  Type.Literal('console'),
]);

/** The client's network, as the client reports it. */
export const Network = Type.Union([Type.Literal('ethernet'), Type.Literal('wifi'), Type.Literal('cellular')]);

/** Highest picture quality a plan allows. */
export const Quality = Type.Union([Type.Literal('sd'), Type.Literal('hd'), Type.Literal('uhd')]);
