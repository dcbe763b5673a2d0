import { createService } from '@flotilla/service';
import { pricing } from './contracts.js';

const CURRENCIES: Record<string, string> = { US: 'USD', GB: 'GBP', JP: 'JPY' };

/** Prices a title: a stable made-up price per title and country. */
const service = createService({
  name: 'pricing',
  version: '1.0.0',
  contract: pricing,
  routes: {
    quote: ({ params, query }, ctx) => {
      let cents = 499;
      for (const ch of `${params.titleId}${query.country}`) cents = (cents * 31 + ch.charCodeAt(0)) % 1_500;
      ctx.log.debug({ titleId: params.titleId }, 'quoted');
      return {
        titleId: params.titleId,
        country: query.country,
        cents: 299 + cents,
        currency: CURRENCIES[query.country] ?? 'EUR',
        quotedBy: ctx.instanceId,
      };
    },
  },
});

await service.run();
