import { FlotillaError, registerErrorClass } from '@flotilla/core';

/**
 * A migration could not be applied (code `MIGRATION_FAILED`), an applied file was edited
 * afterwards (`MIGRATION_CHECKSUM_MISMATCH`), or a new file sorts before one already applied
 * (`MIGRATION_OUT_OF_ORDER`). `data` names the file and, for failures, the statement.
 */
export class MigrationError extends FlotillaError {
  static override readonly defaultCode = 'MIGRATION_FAILED';
}

/** Another live process manages this embedded PostgreSQL data directory. */
export class DataDirLockedError extends FlotillaError {
  static override readonly defaultCode = 'DATA_DIR_LOCKED';
  static override readonly defaultStatus = 409;
}

/** The embedded PostgreSQL server could not be initialised, started or stopped. */
export class EmbeddedPostgresError extends FlotillaError {
  static override readonly defaultCode = 'EMBEDDED_POSTGRES_FAILED';
}

registerErrorClass(MigrationError);
registerErrorClass(DataDirLockedError);
registerErrorClass(EmbeddedPostgresError);
