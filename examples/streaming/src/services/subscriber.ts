import { NotFoundError } from '@flotilla/core';
import { createService } from '@flotilla/service';
import { subscriber } from '../contracts/subscriber.js';
import { migrationsOf, type ServiceOverrides } from './overrides.js';

interface AccountRow {
  user_id: string;
  plan: 'basic' | 'standard' | 'premium';
  status: 'active' | 'past_due' | 'cancelled';
  max_quality: 'sd' | 'hd' | 'uhd';
  max_streams: number;
}

/** Accounts, plans and whether an account may play. */
export function createSubscriberService(overrides: ServiceOverrides = {}) {
  return createService({
    name: 'subscriber',
    version: '1.0.0',
    contract: subscriber,
    database: { migrations: migrationsOf('subscriber') },
    routes: {
      entitlement: async ({ params }, ctx) => {
        const { rows } = await ctx.db.query<AccountRow>(
          `SELECT a.user_id, a.plan, a.status, p.max_quality, p.max_streams
             FROM accounts a JOIN plans p USING (plan) WHERE a.user_id = $1`,
          [params.userId],
        );
        const account = rows[0];
        if (!account)
          throw new NotFoundError(`No account ${params.userId}`, { data: { userId: params.userId } });
        // A past-due account keeps playing during the grace period; a cancelled one does not.
        const allowed = account.status !== 'cancelled';
        return {
          userId: account.user_id,
          plan: account.plan,
          status: account.status,
          allowed,
          maxQuality: account.max_quality,
          maxStreams: allowed ? account.max_streams : 0,
        };
      },
    },
    ...overrides,
  });
}
