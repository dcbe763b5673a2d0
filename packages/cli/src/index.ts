export { main } from './main.js';
export { COMMAND_PACKAGES, loadCommands } from './registry.js';
