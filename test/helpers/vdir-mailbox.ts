// One mailbox on a vdir (folders of files) against the embedded SQLite CRM loaded with an
// exchange document: for end-to-end tests that need items a real server would refuse, or no
// server at all.
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig, saveConfig } from '../../src/config/load.js';
import { resolvePaths } from '../../src/config/paths.js';
import { importExchange, parseExchangeText } from '../../src/providers/crm/exchange.js';
import { openSqlCrmProvider, SqlCrmProvider } from '../../src/providers/crm/index.js';
import type { CrmProvider } from '../../src/providers/crm/model.js';
import { runOnce, type MailboxResult } from '../../src/sync/engine.js';
import { openSqliteStateStore } from '../../src/sync/state/sqlite.js';
import { tempHome } from './cli.js';

export interface VdirMailbox {
  home: string;
  paths: ReturnType<typeof resolvePaths>;
  crm: CrmProvider;
  vdir: string;
  /** Imports an exchange document (a smallCrm() shape) into the CRM. */
  load(doc: object): Promise<void>;
  /** One sync of mailbox u1. */
  sync(): Promise<MailboxResult>;
  /** The folder of the collection whose display name contains this text. */
  collection(displayName: string): string;
  close(): Promise<void>;
}

export async function vdirMailbox(prefix: string, doc: object): Promise<VdirMailbox> {
  const home = tempHome(prefix);
  const paths = resolvePaths(home);
  await SqlCrmProvider.createTables({ dialect: 'sqlite', url: paths.crmDb });
  const crm = await openSqlCrmProvider({ dialect: 'sqlite', overlapSeconds: 120 }, paths);
  const load = async (d: object) => {
    await importExchange(crm, parseExchangeText(JSON.stringify(d), 'fixture'), 'fixture');
  };
  await load(doc);
  const vdir = path.join(home, 'vdir');
  const config = parseConfig({ mailboxes: [{ user: 'u1', url: `file://${vdir}`, username: 'local' }] }, 'test');
  saveConfig(paths.configFile, config);
  return {
    home,
    paths,
    crm,
    vdir,
    load,
    async sync() {
      const state = await openSqliteStateStore(paths.stateDb, { lockDir: paths.lockDir });
      try {
        return (await runOnce({ config, paths, crm, state }, {}))[0]!;
      } finally {
        await state.close();
      }
    },
    collection: (displayName) => fs.readdirSync(vdir).map((d) => path.join(vdir, d)).find((d) => fs.readFileSync(path.join(d, 'displayname'), 'utf8').includes(displayName))!,
    async close() {
      await crm.close();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
