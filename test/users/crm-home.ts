// A --home with a real embedded CRM: `sync-cli crm init --demo` when that command works,
// otherwise the SQL provider's own tables filled through its exchange import (same database,
// same code path the CLI uses to read it).
import fs from 'node:fs';
import { resolvePaths } from '../../src/config/paths.js';
import { importExchange, parseExchangeText } from '../../src/providers/crm/exchange.js';
import { SqlCrmProvider } from '../../src/providers/crm/sql-provider.js';
import type { CrmUser } from '../../src/providers/crm/model.js';
import { runCli, tempHome } from '../helpers/cli.js';

const smallCrm = {
  users: [
    { id: 'u1', login: 'anna', name: 'Anna Schmidt', email: 'anna@example.de', userTag: 'AS', addressTags: ['AS'], activityTags: ['AS'], importAppointmentType: 'Termin', importTaskType: 'Aufgabe' },
    { id: 'u2', login: 'bernd', name: 'Bernd Müller', email: 'bernd@example.de', userTag: 'BM', addressTags: ['BM', 'Kunde'], activityTags: ['BM'], importAppointmentType: 'Termin extern', importTaskType: 'Aufgabe' },
  ],
  addresses: [
    { id: 'a1', company: 'Muster GmbH', salutation: 'Frau', title: '', firstName: 'Erika', lastName: 'Mustermann', street: '', postalCode: '', city: 'München', country: 'Deutschland', fax: '', email: '', note: '', phones: [], private: false, owner: 'u1', tags: ['AS', 'VIP', 'Kunde'], updatedAt: '2026-11-20T09:15:00+01:00', deleted: false },
  ],
  activities: [],
};

export interface CrmHome {
  home: string;
  /** Users of that CRM. */
  users: CrmUser[];
  tags: string[];
  how: 'crm init --demo' | 'exchange import';
}

export async function createCrmHome(): Promise<CrmHome> {
  const home = tempHome('sync-cli-users-');
  let how: CrmHome['how'] = 'crm init --demo';
  if (runCli(['--home', home, 'crm', 'init', '--demo']).code !== 0) {
    how = 'exchange import';
    fs.rmSync(resolvePaths(home).crmDb, { force: true });
    const opts = { dialect: 'sqlite' as const, url: resolvePaths(home).crmDb };
    await SqlCrmProvider.createTables(opts);
    const p = await SqlCrmProvider.open(opts);
    await importExchange(p, parseExchangeText(JSON.stringify(smallCrm), 'test CRM'), 'test CRM');
    await p.close();
  }
  const p = await SqlCrmProvider.open({ dialect: 'sqlite', url: resolvePaths(home).crmDb });
  const users = await p.listUsers();
  const tags = await p.listTags();
  await p.close();
  return { home, users, tags, how };
}
