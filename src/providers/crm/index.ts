// Opens the configured CRM provider: the embedded SQLite CRM under --home by default, or a
// PostgreSQL / MariaDB database that follows the view contract (docs/crm-views.md).
// The database password is never part of config.json (R25): `crm connect` moves it into the
// 0600 secrets file; SYNC_CLI_CRM_PASSWORD overrides it (service managers, containers).
import type { Paths } from '../../config/paths.js';
import type { Config } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import { registerSecret } from '../../log/redact.js';
import { FileCredentialStore } from '../../secrets/file-store.js';
import type { CrmConnectionOptions } from './connect.js';
import type { CrmProvider } from './model.js';
import { SqlCrmProvider } from './sql-provider.js';

export { SqlCrmProvider } from './sql-provider.js';
export { describeCrmUrl } from './connect.js';
export type { CrmConnectionOptions } from './connect.js';

/** Reference of the CRM database password in the secrets file. */
export const CRM_PASSWORD_REF = 'crm:database';
export const CRM_PASSWORD_ENV = 'SYNC_CLI_CRM_PASSWORD';

/** Splits a database URL into the URL without password (for config.json) and the password. */
export function splitCrmUrl(url: string): { url: string; password: string | null } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url, password: null };
  }
  if (!u.password) return { url, password: null };
  const password = decodeURIComponent(u.password);
  registerSecret(password);
  u.password = '';
  return { url: u.toString(), password };
}

/** The URL with the stored password put back (the env variable first, then the secrets file):
 *  the CRM's by default, the state store's with its own reference (C2). */
export async function withStoredPassword(url: string, paths: Paths, env: NodeJS.ProcessEnv, ref = CRM_PASSWORD_REF, envName = CRM_PASSWORD_ENV): Promise<string> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  if (u.password) return url;
  const password = env[envName] || (await new FileCredentialStore(paths.secretsFile).get(ref));
  if (!password) return url;
  registerSecret(password);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** Connection options for the configured CRM (sqlite default file: paths.crmDb). */
export function crmConnectionOptions(crm: Config['crm'], paths: Paths): CrmConnectionOptions {
  if (crm.dialect === 'sqlite') return { dialect: 'sqlite', url: crm.url ?? paths.crmDb };
  if (!crm.url) {
    throw new ConfigError(`crm.url is missing for crm.dialect "${crm.dialect}"`, [], `Run \`sync-cli crm connect ${crm.dialect} --url URL\`.`);
  }
  return { dialect: crm.dialect, url: crm.url, schema: crm.schema };
}

/** Same as openCrmProvider, typed as the SQL provider (import/export, explain). */
export async function openSqlCrmProvider(crm: Config['crm'], paths: Paths, env: NodeJS.ProcessEnv = process.env): Promise<SqlCrmProvider> {
  const opts = crmConnectionOptions(crm, paths);
  if (opts.dialect !== 'sqlite') opts.url = await withStoredPassword(opts.url, paths, env);
  return SqlCrmProvider.open(opts);
}

export async function openCrmProvider(crm: Config['crm'], paths: Paths): Promise<CrmProvider> {
  return openSqlCrmProvider(crm, paths);
}
