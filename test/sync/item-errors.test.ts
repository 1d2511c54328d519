// R22/D30 at item level, on a vdir mailbox (files can hold anything a real server would refuse):
// one unreadable item needs attention alone (not a failure), the others sync, and it is read
// again once the user changed it.
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { parseConfig, saveConfig } from '../../src/config/load.js';
import { resolvePaths } from '../../src/config/paths.js';
import { importExchange, parseExchangeText } from '../../src/providers/crm/exchange.js';
import { openSqlCrmProvider, SqlCrmProvider } from '../../src/providers/crm/index.js';
import { runOnce } from '../../src/sync/engine.js';
import { openSqliteStateStore } from '../../src/sync/state/sqlite.js';
import { tempHome } from '../helpers/cli.js';
import { smallCrm } from '../helpers/small-crm.js';

it('R22/D30: a malformed device item needs attention alone with its line and reason, the rest syncs, the mailbox stays success, and the repaired item is read again', async () => {
  const home = tempHome('sync-cli-items-');
  const paths = resolvePaths(home);
  await SqlCrmProvider.createTables({ dialect: 'sqlite', url: paths.crmDb });
  const crm = await openSqlCrmProvider({ dialect: 'sqlite', overlapSeconds: 120 }, paths);
  try {
    await importExchange(crm, parseExchangeText(JSON.stringify(smallCrm()), 'fixture'), 'fixture');
    const vdir = path.join(home, 'vdir');
    const config = parseConfig({ mailboxes: [{ user: 'u1', url: `file://${vdir}`, username: 'local' }] }, 'test');
    saveConfig(paths.configFile, config);
    const sync = async () => {
      const state = await openSqliteStateStore(paths.stateDb);
      try {
        return (await runOnce({ config, paths, crm, state }, {}))[0]!;
      } finally {
        await state.close();
      }
    };
    await sync();
    const contacts = fs.readdirSync(vdir).map((d) => path.join(vdir, d)).find((d) => fs.readFileSync(path.join(d, 'displayname'), 'utf8').includes('Kontakte'))!;
    // A broken card (a property line without a colon) and a good new one.
    fs.writeFileSync(path.join(contacts, 'broken.vcf'), 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:broken-1\r\nFN:Kaputt Karte\r\nTHIS LINE IS NOT A PROPERTY\r\nEND:VCARD\r\n');
    fs.writeFileSync(path.join(contacts, 'good.vcf'), 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:good-1\r\nFN:Gerda Gut\r\nN:Gut;Gerda;;;\r\nEND:VCARD\r\n');
    const r = await sync();
    expect(r.state).toBe('success');
    expect(r.errors).toEqual([]);
    expect(r.attention).toHaveLength(1);
    expect(r.attention[0]!.item).toContain('broken.vcf');
    expect(r.attention[0]!.message).toMatch(/line 5.*NOT A PROPERTY/);
    const mine = async () => crm.getAddresses((await crm.scopeIds({ userId: 'u1', addressTags: ['MM'], activityTags: [] })).addresses);
    expect((await mine()).some((a) => a.lastName === 'Gut')).toBe(true);
    const state = await openSqliteStateStore(paths.stateDb);
    expect(await state.getStatus('u1')).toMatchObject({ state: 'success', pending: 0 });
    expect((await state.listAttention('u1')).map((a) => a.href)).toEqual([path.join(contacts, 'broken.vcf')]);
    await state.close();
    expect((await sync()).attention).toEqual([]); // once per change
    // The user repairs the card on the device: the next sync imports it and the mailbox is green.
    fs.writeFileSync(path.join(contacts, 'broken.vcf'), 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:broken-1\r\nFN:Karla Repariert\r\nN:Repariert;Karla;;;\r\nEND:VCARD\r\n');
    const again = await sync();
    expect(again.errors).toEqual([]);
    expect(again.state).toBe('success');
    expect((await mine()).some((a) => a.lastName === 'Repariert')).toBe(true);
  } finally {
    await crm.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
});
