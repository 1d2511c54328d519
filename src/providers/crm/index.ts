// Opens the configured CRM provider: the embedded SQLite CRM under --home by default, or a
// PostgreSQL / MariaDB database that follows the view contract (docs/crm-views.md).
import type { Paths } from '../../config/paths.js';
import type { Config } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import type { CrmProvider } from './model.js';
import { SqlCrmProvider } from './sql-provider.js';
import type { CrmConnectionOptions } from './connect.js';

export { SqlCrmProvider } from './sql-provider.js';
export { describeCrmUrl } from './connect.js';
export type { CrmConnectionOptions } from './connect.js';

/** Connection options for the configured CRM (sqlite default file: paths.crmDb). */
export function crmConnectionOptions(crm: Config['crm'], paths: Paths): CrmConnectionOptions {
  if (crm.dialect === 'sqlite') return { dialect: 'sqlite', url: crm.url ?? paths.crmDb };
  if (!crm.url) {
    throw new ConfigError(`crm.url is missing for crm.dialect "${crm.dialect}"`, [], `Run \`sync-cli crm connect ${crm.dialect} --url URL\`.`);
  }
  return { dialect: crm.dialect, url: crm.url, schema: crm.schema };
}

export async function openCrmProvider(crm: Config['crm'], paths: Paths): Promise<CrmProvider> {
  return SqlCrmProvider.open(crmConnectionOptions(crm, paths));
}

/** Same as openCrmProvider, typed as the SQL provider (import/export, explain). */
export async function openSqlCrmProvider(crm: Config['crm'], paths: Paths): Promise<SqlCrmProvider> {
  return SqlCrmProvider.open(crmConnectionOptions(crm, paths));
}
