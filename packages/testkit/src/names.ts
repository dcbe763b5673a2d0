import { randomBytes } from 'node:crypto';

/** A name no other test uses: `t_` plus 12 hex digits, valid as a database, stream or vhost name. */
export function uniqueToken(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}
