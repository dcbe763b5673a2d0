import { createService } from '@flotilla/service';
import { pricing, storefront } from './contracts.js';

/** Builds offers from the pricing service's quotes, called through its contract. */
const service = createService({
  name: 'storefront',
  version: '1.0.0',
  contract: storefront,
  clients: { pricing },
  dependencies: { services: ['pricing'] },
  routes: {
    offer: async ({ params, query }, ctx) => {
      // Typed: a misspelt field or a wrong type here is a compile error.
      const quote = await ctx.clients.pricing.quote({
        params: { titleId: params.titleId },
        query: { country: query.country },
      });
      return {
        titleId: quote.titleId,
        price: `${(quote.cents / 100).toFixed(2)} ${quote.currency}`,
        quotedBy: quote.quotedBy,
      };
    },
  },
});

await service.run();
