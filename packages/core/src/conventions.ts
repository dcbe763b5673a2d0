/** Headers carried across every hop (DESIGN.md, Conventions). */
export const Headers = {
  requestId: 'x-request-id',
  /** Absolute deadline in Unix milliseconds, so timeouts never stack across hops. */
  deadline: 'x-flotilla-deadline',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  /**
   * Claims of the authenticated caller, as base64url JSON, set by the gateway after it verified
   * a token. The gateway strips it from client requests, so a service behind the gateway can
   * trust it.
   */
  principal: 'x-flotilla-principal',
} as const;

/** Ecosystem default ports. */
export const DefaultPorts = {
  gateway: 8080,
  gatewayAdmin: 8081,
  registry: 8761,
  config: 8888,
  postgres: 5432,
} as const;

/** Environment variables every Flotilla process reads (12-factor). */
export const EnvVars = {
  registryUrl: 'FLOTILLA_REGISTRY_URL',
  configUrl: 'FLOTILLA_CONFIG_URL',
  busUrl: 'FLOTILLA_BUS_URL',
  databaseUrl: 'DATABASE_URL',
  /** A PostgreSQL server on which each service creates and owns a database named after it. */
  postgresUrl: 'FLOTILLA_POSTGRES_URL',
  environment: 'FLOTILLA_ENV',
  logLevel: 'FLOTILLA_LOG_LEVEL',
  requireServices: 'FLOTILLA_REQUIRE_SERVICES',
} as const;
