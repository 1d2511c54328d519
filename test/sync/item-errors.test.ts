// R22/D30 at item level, on a vdir mailbox (files can hold anything a real server would refuse):
// one unreadable item needs attention alone (not a failure), the others sync, and it is read
// again once the user changed it.
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { smallCrm } from '../helpers/small-crm.js';
import { openSqliteStateStore } from '../../src/sync/state/sqlite.js';
import { vdirMailbox } from '../helpers/vdir-mailbox.js';

it('R22/D30: a malformed device item needs attention alone with its line and reason, the rest syncs, the mailbox stays success, and the repaired item is read again', async () => {
  const mb = await vdirMailbox('sync-cli-items-', smallCrm());
  const { crm, paths, sync } = mb;
  try {
    await sync();
    const contacts = mb.collection('Kontakte');
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
    await mb.close();
  }
});
