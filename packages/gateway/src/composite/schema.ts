import { type Static, Type } from '@sinclair/typebox';

/**
 * Composite routes (aggregator, chain, branch): the YAML shapes. A leg is one GET to a service
 * or URL; its `path` and `query` values are templates (`:param` and `{{steps.user.body.id}}`)
 * resolved and URL-encoded per request by `template.ts`.
 */

const Duration = Type.Union([Type.String(), Type.Number()], {
  description: 'Go-style duration ("250ms", "2s") or milliseconds',
});

const STRATEGIES = ['round-robin', 'random', 'least-outstanding', 'p2c-ewma', 'consistent-hash'] as const;

/** One call of a composite route. */
export const LegSchema = Type.Object(
  {
    service: Type.Optional(Type.String({ minLength: 1 })),
    url: Type.Optional(Type.String({ minLength: 1 })),
    version: Type.Optional(Type.String({ minLength: 1 })),
    strategy: Type.Optional(Type.Union(STRATEGIES.map((s) => Type.Literal(s)))),
    /** Path sent to the leg's upstream: `/users/:userId`, `/plans/{{steps.user.body.planId}}`. */
    path: Type.String({ pattern: '^/' }),
    /** Query parameters; values are templates. */
    query: Type.Optional(Type.Record(Type.String(), Type.String())),
    /** Time this leg may take; default the route's timeout. */
    timeout: Type.Optional(Duration),
    /** JSON answered for this leg when it fails (any value, `null` included). */
    fallback: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);

/** `aggregate`: every leg in parallel, answers `{ <leg>: body }`. */
export const AggregateSchema = Type.Object(
  { legs: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), LegSchema) },
  { additionalProperties: false },
);

/** A chain step: a leg with a name later steps refer to. */
export const StepSchema = Type.Object(
  { name: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), ...LegSchema.properties },
  { additionalProperties: false },
);

/** `chain`: steps one after another, answers `{ <step>: body }`. */
export const ChainSchema = Type.Object(
  { steps: Type.Array(StepSchema, { minItems: 1 }) },
  { additionalProperties: false },
);

const Predicates = Type.Record(Type.String(), Type.String(), {
  description: 'exact value, or "*" for present',
});

/** Conditions of a branch case; all must hold. */
export const WhenSchema = Type.Object(
  {
    headers: Type.Optional(Predicates),
    query: Type.Optional(Predicates),
    /** Verified claims of the caller (needs `auth`); `scope` holds when the token grants it. */
    claims: Type.Optional(Predicates),
  },
  { additionalProperties: false },
);

/** One case of a branch: a condition (none = the default) and what to run. */
export const BranchCaseSchema = Type.Object(
  {
    when: Type.Optional(WhenSchema),
    chain: Type.Optional(ChainSchema),
    aggregate: Type.Optional(AggregateSchema),
  },
  { additionalProperties: false },
);

/** `branch`: the first case whose `when` holds runs. */
export const BranchSchema = Type.Array(BranchCaseSchema, { minItems: 1 });

export type LegDefinition = Static<typeof LegSchema>;
export type StepDefinition = Static<typeof StepSchema>;
export type AggregateDefinition = Static<typeof AggregateSchema>;
export type ChainDefinition = Static<typeof ChainSchema>;
export type WhenDefinition = Static<typeof WhenSchema>;
export type BranchDefinition = Static<typeof BranchSchema>;
