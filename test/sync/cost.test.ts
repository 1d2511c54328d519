// What a sync costs on the wire. A no-change run asks its collections' sync tokens, where they
// share a parent (Radicale: the user's home), in one PROPFIND of that parent (D100); a collection
// whose token moved gets its sync-collection REPORT. Never a Depth-1 listing of items (measured:
// 50× dearer at 10,000 items), and no REPORT for a collection whose token did not move.
import { afterEach, expect, it } from 'vitest';
import { openMailbox } from '../../src/providers/dav/index.js';
import type { MailboxConfig } from '../../src/config/schema.js';
import { Scenario } from '../helpers/scenario.js';

let sc: Scenario | undefined;
afterEach(async () => {
  await sc?.stop();
  sc = undefined;
});

function counting(requests: string[], urls: string[] = []) {
  return (m: MailboxConfig, password: string) =>
    openMailbox(
      { url: m.url, username: m.username, password, auth: m.auth },
      {
        timeoutMs: 10_000,
        retries: 1,
        concurrency: 4,
        onRequest: (method, url) => {
          requests.push(method);
          urls.push(`${method} ${new URL(url).pathname}`);
        },
      },
    );
}

it('R6: a no-change run sends one PROPFIND of the three sync tokens and nothing else (D100)', async () => {
  sc = await Scenario.create({ logins: ['mmueller'] });
  await sc.syncOk();
  await sc.syncOk(); // our own writes come back once in the delta: settled here
  const requests: string[] = [];
  const urls: string[] = [];
  const r = await sc.sync({}, { openMailbox: counting(requests, urls) });
  expect(r[0]).toMatchObject({ state: 'success', created: 0, updated: 0, deleted: 0, crmUpdates: 0 });
  expect(requests).toEqual(['PROPFIND']);
  // The PROPFIND is of the parent of the three collections (the user's home on Radicale).
  const collections = Object.values(await sc.collectionsOf(await sc.userId('mmueller'))).map((c) => new URL(c!.url).pathname);
  expect(collections).toHaveLength(3);
  expect(collections.every((p) => p.startsWith(urls[0]!.slice('PROPFIND '.length)))).toBe(true);
});

it('R6: a phone edit in one collection costs the token probe and that collection\'s REPORT, not the others\' (D100)', async () => {
  sc = await Scenario.create({ logins: ['mmueller'] });
  await sc.syncOk();
  await sc.syncOk();
  const dev = await sc.device('mmueller');
  const contact = (await dev.list('contacts'))[0]!;
  expect(await dev.put(contact.href, contact.data.replace(/\r\nEND:VCARD/, '\r\nNOTE:written on the phone\r\nEND:VCARD'), contact.etag)).toBeLessThan(300);
  const requests: string[] = [];
  const urls: string[] = [];
  const r = await sc.sync({}, { openMailbox: counting(requests, urls) });
  expect(r[0]).toMatchObject({ state: 'success', errors: [] });
  expect(requests[0]).toBe('PROPFIND');
  const reports = urls.filter((u) => u.startsWith('REPORT '));
  // The sync-collection REPORT of the contacts and the multiget of the edited card; nothing of the calendars.
  expect(reports.every((u) => u.endsWith(new URL(contact.href).pathname.replace(/[^/]+$/, '')))).toBe(true);
  expect(reports.length).toBeGreaterThanOrEqual(1);
  // The next sync is quiet again: its own writes settled, one PROPFIND.
  await sc.syncOk();
  const quiet: string[] = [];
  await sc.sync({}, { openMailbox: counting(quiet) });
  expect(quiet).toEqual(['PROPFIND']);
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
  expect(requests.filter((m) => m === 'PROPFIND')).toHaveLength(1); // the token probe (D100)
  expect(requests.length).toBeLessThanOrEqual(4); // token probe + REPORT of the contacts (our PUT moved its token, after) + 1 multiget + 1 PUT
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
  // The next sync sees its own PUT come back in the contacts' delta (the token moved with it) and
  // writes nothing; the one after is one PROPFIND.
  const settled: string[] = [];
  await sc.sync({}, { openMailbox: counting(settled) });
  expect(settled).toEqual(['PROPFIND', 'REPORT']);
  const requests: string[] = [];
  await sc.sync({}, { openMailbox: counting(requests) });
  expect(requests).toEqual(['PROPFIND']);
});
