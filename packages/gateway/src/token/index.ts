export {
  ClientRegistry,
  type IssuerClient,
  IssuerClientSchema,
  IssuerClientsFileSchema,
  readClientsFile,
} from './clients.js';
export { issuerCommand, tokenCommand, tokenCommands } from './commands.js';
export {
  createDevIssuer,
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER_DIR,
  DEFAULT_ISSUER_PORT,
  type DevIssuer,
  type DevIssuerOptions,
  type SignRequest,
} from './issuer.js';
export { ISSUER_ALG, KEY_FILE, loadOrCreateKey, type SigningKey } from './keystore.js';
