import { defineContract, endpoint } from '@flotilla/service';
import { Type } from '@sinclair/typebox';

/**
 * The pricing service's API. The storefront imports this object and gets a typed client;
 * pricing implements it. One definition, checked on both sides of the wire.
 */
export const pricing = defineContract({
  service: 'pricing',
  endpoints: {
    quote: endpoint({
      method: 'GET',
      path: '/prices/:titleId',
      summary: 'Price of a title in a country',
      params: Type.Object({ titleId: Type.String({ pattern: '^tt[0-9]{3,9}$' }) }),
      query: Type.Object({ country: Type.String({ pattern: '^[A-Z]{2}$' }) }),
      response: Type.Object({
        titleId: Type.String(),
        country: Type.String(),
        cents: Type.Integer({ minimum: 0 }),
        currency: Type.String(),
        quotedBy: Type.String(),
      }),
    }),
  },
});

/** The storefront's API: an offer page built from a price quote. */
export const storefront = defineContract({
  service: 'storefront',
  endpoints: {
    offer: endpoint({
      method: 'GET',
      path: '/offers/:titleId',
      params: Type.Object({ titleId: Type.String() }),
      query: Type.Object({ country: Type.String() }),
      response: Type.Object({
        titleId: Type.String(),
        price: Type.String(),
        quotedBy: Type.String(),
      }),
    }),
  },
});
