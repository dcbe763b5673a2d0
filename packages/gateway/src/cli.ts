import type { CommandDefinition } from '@flotilla/core';

/** Commands this package adds to `flotilla`. */
export const commands: CommandDefinition[] = [];
