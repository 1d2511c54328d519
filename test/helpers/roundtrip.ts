// `crm export` → `crm import` into a fresh embedded CRM → `crm export`, change stamps aside
// (the embedded CRM stamps every write itself). Used by the round-trip property and the
// real-client tests of #12.
import fs from 'node:fs';
import { exportExchange, importExchange, parseExchangeText } from '../../src/providers/crm/exchange.js';
import { SqlCrmProvider } from '../../src/providers/crm/sql-provider.js';
import { tempHome } from './cli.js';

const strip = (doc: unknown) => JSON.parse(JSON.stringify(doc, (k, v: unknown) => (k === 'updatedAt' ? undefined : v))) as unknown;

export async function exportImportExport(crm: SqlCrmProvider): Promise<{ first: unknown; second: unknown }> {
  const first = await exportExchange(crm);
  const home = tempHome('sync-cli-roundtrip-');
  const url = `${home}/crm.sqlite`;
  await SqlCrmProvider.createTables({ dialect: 'sqlite', url });
  const fresh = await SqlCrmProvider.open({ dialect: 'sqlite', url });
  try {
    await importExchange(fresh, parseExchangeText(JSON.stringify(first), 'export.json'), 'export.json');
    return { first: strip(first), second: strip(await exportExchange(fresh)) };
  } finally {
    await fresh.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}
