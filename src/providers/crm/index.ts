// Opens the configured CRM provider. (Placeholder until the SQL provider lands.)
import type { Paths } from '../../config/paths.js';
import type { Config } from '../../config/schema.js';
import { NotImplementedError } from '../../errors.js';
import type { CrmProvider } from './model.js';

export async function openCrmProvider(_crm: Config['crm'], _paths: Paths): Promise<CrmProvider> {
  throw new NotImplementedError('CRM provider');
}
