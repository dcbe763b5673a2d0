import { defineContract, endpoint } from '@flotilla/service';
import { Type } from '@sinclair/typebox';
import { Quality, UserId } from './common.js';

/** Whether an account may play, and at which quality. */
export const subscriber = defineContract({
  service: 'subscriber',
  endpoints: {
    entitlement: endpoint({
      method: 'GET',
      path: '/entitlements/:userId',
      summary: "An account's plan and status, and whether it may play (404 for an unknown account)",
      params: Type.Object({ userId: UserId }),
      response: Type.Object({
        userId: Type.String(),
        plan: Type.Union([Type.Literal('basic'), Type.Literal('standard'), Type.Literal('premium')]),
        status: Type.Union([Type.Literal('active'), Type.Literal('past_due'), Type.Literal('cancelled')]),
        allowed: Type.Boolean(),
        maxQuality: Quality,
        maxStreams: Type.Integer({ minimum: 0 }),
      }),
    }),
  },
});
