import type { CommandDefinition } from '@flotilla/core';

/**
 * Packages that may contribute subcommands through their `./cli` entry. A package that is not
 * installed (a slim production install) simply contributes nothing.
 */
export const COMMAND_PACKAGES = [
  '@flotilla/postgres',
  '@flotilla/registry',
  '@flotilla/config',
  '@flotilla/bus',
  '@flotilla/gateway',
] as const;

type Loader = (specifier: string) => Promise<{ commands?: CommandDefinition[] }>;

const importModule: Loader = (specifier) => import(specifier);

/** Collects the commands of the CLI itself and of every installed contributing package. */
export async function loadCommands(
  builtIn: CommandDefinition[],
  packages: readonly string[] = COMMAND_PACKAGES,
  load: Loader = importModule,
): Promise<Map<string, CommandDefinition>> {
  const out = new Map<string, CommandDefinition>();
  for (const command of builtIn) out.set(command.name, command);
  const modules = await Promise.all(
    packages.map((name) =>
      load(`${name}/cli`).catch((error: NodeJS.ErrnoException): { commands?: CommandDefinition[] } => {
        if (error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes(name)) return {};
        throw error;
      }),
    ),
  );
  for (const mod of modules) {
    for (const command of mod.commands ?? []) {
      if (out.has(command.name)) throw new Error(`flotilla: command "${command.name}" is defined twice`);
      out.set(command.name, command);
    }
  }
  return out;
}
