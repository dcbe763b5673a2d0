import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerInit {
  /** Service (or component) name, bound to every line as `service`. */
  service: string;
  /** Instance id, bound as `instance`. */
  instance?: string;
  /** pino level; default `FLOTILLA_LOG_LEVEL` or `LOG_LEVEL`, else `info`. */
  level?: string;
  /** Where lines go; default stdout. Tests pass a stream to capture them. */
  destination?: NodeJS.WritableStream;
  /** Extra bindings on every line. */
  bindings?: Record<string, unknown>;
  /** Rewrites each finished line before it is written (e.g. removes secret values wherever they appear). */
  censor?: (line: string) => string;
}

/** Paths never written in clear text, wherever they appear. */
export const REDACTED_PATHS = [
  'password',
  'secret',
  'token',
  'authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** A pino logger with service/instance bindings and secret redaction. */
export function createLogger(init: LoggerInit): Logger {
  const options: LoggerOptions = {
    level: init.level ?? process.env.FLOTILLA_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'info',
    base: { service: init.service, ...(init.instance ? { instance: init.instance } : {}), ...init.bindings },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    ...(init.censor ? { hooks: { streamWrite: init.censor } } : {}),
  };
  return init.destination ? pino(options, init.destination) : pino(options);
}
