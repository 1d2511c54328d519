// What a sync costs on the wire: a no-change run is one REPORT per collection (measured.md: a
// Depth-1 listing or even a ctag probe first would be many times dearer).
import { afterEach, expect, it } from 'vitest';
import { openMailbox } from '../../src/providers/dav/index.js';
import type { MailboxConfig } from '../../src/config/schema.js';
import { Scenario } from '../helpers/scenario.js';

let sc: Scenario | undefined;
afterEach(async () => {
  await sc?.stop();
  sc = undefined;
});

function counting(requests: string[]) {
  return (m: MailboxConfig, password: string) =>
    openMailbox({ url: m.url, username: m.username, password, auth: m.auth }, { timeoutMs: 10_000, retries: 1, concurrency: 4, onRequest: (method) => requests.push(method) });
}

it('R6: a no-change run sends one sync-collection REPORT per collection and nothing else', async () => {
  sc = await Scenario.create({ logins: ['mmueller'] });
  await sc.syncOk();
  await sc.syncOk(); // our own writes come back once in the delta: settled here
  const requests: string[] = [];
  const r = await sc.sync({}, { openMailbox: counting(requests) });
  expect(r[0]).toMatchObject({ state: 'success', created: 0, updated: 0, deleted: 0, crmUpdates: 0 });
  expect(requests).toEqual(['REPORT', 'REPORT', 'REPORT']);
});

it('R6: one CRM change costs the deltas, one fetch of the item to patch and one PUT', async () => {
  sc = await Scenario.create({ logins: ['mmueller'] });
  await sc.syncOk();
  await sc.syncOk();
  const [a2] = await sc.crm.getAddresses(['a2']);
  await sc.crm.updateAddress('a2', { city: 'Kelheim' }, a2!.version);
  const requests: string[] = [];
  const r = await sc.sync({}, { openMailbox: counting(requests) });
  expect(r[0]).toMatchObject({ updated: 1 });
  expect(requests.filter((m) => m === 'PUT')).toHaveLength(1);
  expect(requests.filter((m) => m === 'PROPFIND')).toHaveLength(0);
  expect(requests.length).toBeLessThanOrEqual(5); // 3 deltas + 1 multiget + 1 PUT
});

it('R1: a tag added to the mailbox\'s address tags brings those addresses without --full', async () => {
  sc = await Scenario.create({ logins: ['mmueller'] });
  await sc.syncOk();
  const dev = await sc.device('mmueller');
  expect(await dev.find('contacts', 'Schmidt & Söhne')).toBeUndefined();
  sc.setConfig((c) => (c.mailboxes[0]!.addressTags = ['MM', 'SS']));
  await sc.syncOk();
  expect(await dev.find('contacts', 'Schmidt & Söhne')).toBeDefined();
});

it('R22/R23: retry and pending-create records left by a cut-short sync are settled, and the syncs after are quiet again', async () => {
  sc = await Scenario.create({ logins: ['mmueller'] });
  await sc.syncOk();
  await sc.syncOk();
  const user = await sc.userId('mmueller');
  // What a sync cut short leaves: a pending create whose record has since left the scope, and
  // an earlier failure of an item that is now fine.
  const { openSqliteStateStore } = await import('../../src/sync/state/sqlite.js');
  const state = await openSqliteStateStore(sc.paths.stateDb);
  const [held] = (await state.loadRecords(user)).items.filter((i) => i.kind === 'address');
  await state.apply(user, [
    { op: 'create-pending', ref: { kind: 'address', crmId: 'gone-before-its-create' }, fieldHashes: {} },
    { op: 'record-failed', ref: { kind: 'address', crmId: held!.crmId }, message: 'HTTP 503 last time' },
  ]);
  await state.close();
  // The held address changes in the CRM: its device update settles the earlier failure.
  const [rec] = await sc.crm.getAddresses([held!.crmId]);
  await sc.crm.updateAddress(held!.crmId, { city: 'Kelheim' }, rec!.version);
  const settling = await sc.syncOk();
  expect(settling[0]).toMatchObject({ updated: 1, errors: [] });
  const after = await openSqliteStateStore(sc.paths.stateDb);
  const head = await after.loadMailbox(user);
  expect(head.pendingCreates.size).toBe(0);
  expect(head.failedRecords.size).toBe(0);
  await after.close();
  const requests: string[] = [];
  await sc.sync({}, { openMailbox: counting(requests) });
  expect(requests).toEqual(['REPORT', 'REPORT', 'REPORT']);
});
