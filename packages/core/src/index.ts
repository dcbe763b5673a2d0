export { type Clock, ManualClock, sleep, systemClock, type TimerHandle } from './clock.js';
export {
  type CommandArgs,
  type CommandDefinition,
  type CommandIO,
  type CommandOption,
  portOption,
  stringOption,
  UsageError,
} from './command.js';
export { DefaultPorts, EnvVars, Headers } from './conventions.js';
export {
  ConfigurationError,
  ConflictError,
  FlotillaError,
  type FlotillaErrorOptions,
  hasErrorCode,
  isFlotillaError,
  NotFoundError,
  registerErrorClass,
  restoreError,
  type SerializedError,
  serializeError,
  TimeoutError,
  UnavailableError,
  ValidationError,
} from './errors.js';
export { idTime, isId, newId } from './ids.js';
export { createLogger, type Logger, type LoggerInit, REDACTED_PATHS } from './logger.js';
export { positiveIntegerOption } from './options.js';
export { decodePrincipal, encodePrincipal, type Principal } from './principal.js';
export {
  errorToProblem,
  type FieldError,
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPE_BASE,
  type Problem,
  type ProblemInit,
  problem,
  sendProblem,
} from './problem.js';
export { SHUTDOWN_SIGNALS, waitForShutdown } from './shutdown.js';
export { type SseEvent, type SseHandlers, SseParser } from './sse.js';
export {
  formatTraceparent,
  newSpanId,
  newTraceId,
  newTraceparent,
  parseTraceparent,
  randomHex,
  type TraceParent,
} from './trace.js';
export { compileValidator, type Validator } from './validation.js';
export {
  type Envelope,
  EnvelopeSchema,
  FieldErrorSchema,
  type InstanceRegistration,
  InstanceRegistrationSchema,
  type InstanceStatus,
  InstanceStatusSchema,
  ProblemSchema,
  SerializedErrorSchema,
  ServiceNameSchema,
} from './wire.js';
export { parseYamlDocument, type YamlDocument, type YamlPosition } from './yaml.js';
