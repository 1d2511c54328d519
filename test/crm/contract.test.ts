// The CRM provider contract, run against SQLite, PostgreSQL and MariaDB (real servers; a server
// that is not reachable is skipped with a printed reason).
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CrmUnavailableError, CrmVersionConflictError, InputError } from '../../src/errors.js';
import { exportExchange, importExchange, parseExchangeText, validateExchange } from '../../src/providers/crm/exchange.js';
import { generateDemoCrm } from '../../src/providers/crm/demo.js';
import type { CrmCursor } from '../../src/providers/crm/model.js';
import { SqlCrmProvider } from '../../src/providers/crm/sql-provider.js';
import { FEED_PLAN } from '../../src/providers/crm/store.js';
import { openWithTables, targets, type TestDatabase } from './databases.js';

const fixture = fs.readFileSync(new URL('../fixtures/crm/small.json', import.meta.url), 'utf8');

function stamp(dialect: string, iso: string): string {
  return dialect === 'mysql' ? `'${iso.replace('T', ' ').replace('Z', '')}'` : `'${iso}'`;
}

for (const target of targets) {
  describe.skipIf(target.unavailable !== null)(`CRM provider on ${target.name}`, () => {
    let db: TestDatabase;
    let crm: SqlCrmProvider;

    beforeAll(async () => {
      ({ db, provider: crm } = await openWithTables(target));
      await importExchange(crm, parseExchangeText(fixture, 'small.json'), 'small.json');
    });
    afterAll(async () => {
      await crm?.close();
      await db?.drop();
    });

    it('reads users with their user tag first in the tag lists', async () => {
      const users = await crm.listUsers();
      expect(users.map((u) => u.login)).toEqual(['jkoenig', 'mmueller', 'sschaefer']);
      const u3 = await crm.findUser('jkoenig');
      expect(u3).toMatchObject({ id: 'u3', userTag: 'JK', addressTags: ['JK'], importAppointmentType: 'Termin' });
      expect((await crm.findUser('u2'))?.addressTags).toEqual(['SS', 'Team Süd']);
      expect(await crm.listTags()).toEqual(expect.arrayContaining(['MM', 'SS', 'JK', 'VIP', 'Team Süd']));
    });

    it('returns addresses and activities with every field, ISO timestamps with milliseconds', async () => {
      const [a1] = await crm.getAddresses(['a1']);
      expect(a1).toMatchObject({
        company: 'Muster Immobilien GmbH', firstName: 'Erika', street: 'Hauptstraße 5', city: 'München',
        phones: [{ number: '+49 89 1234-0', remark: 'Zentrale' }, { number: '+49 170 5550101', remark: 'nur vormittags' }],
        private: false, owner: 'u1', tags: ['MM', 'VIP'], version: '1',
      });
      expect(a1?.updatedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3,6}Z$/);
      // The file's updatedAt is not the CRM's change stamp (crm-exchange.md).
      expect(a1?.updatedAt).not.toBe('2026-11-20T08:15:00.000Z');
      const acts = await crm.getActivities(['t1', 't3', 't2']);
      expect(acts.map((a) => a.id)).toEqual(['t1', 't2', 't3']);
      expect(acts[0]).toMatchObject({
        kind: 'appointment', type: 'Termin extern', start: '2026-11-25T10:00:00+01:00', end: '2026-11-25T11:00:00+01:00',
        allDay: false, timeZone: 'Europe/Berlin', alarmMinutes: 15, participants: ['u1', 'u2'], addresses: ['a1', 'a2'], tags: ['MM'],
      });
      expect(acts[1]).toMatchObject({ kind: 'task', due: '2026-11-27T17:00:00+01:00', start: null, alarmMinutes: null });
      expect(acts[2]).toMatchObject({ allDay: true, start: '2026-10-24', end: '2026-10-27' });
      expect(await crm.getAddresses(['nope'])).toEqual([]);
    });

    it('R12: keeps the order of ten phone numbers and their remarks', async () => {
      const [a6] = await crm.getAddresses(['a6']);
      expect(a6?.phones.map((p) => p.number)).toEqual(['+49 30 10', '+49 30 09', '+49 30 08', '+49 30 07', '+49 30 06', '+49 30 05', '+49 30 04', '+49 30 03', '+49 30 02', '+49 30 01']);
      const reordered = [...a6!.phones].reverse();
      const after = await crm.updateAddress('a6', { phones: reordered }, a6!.version);
      expect(after.phones).toEqual(reordered);
      expect((await crm.getAddresses(['a6']))[0]?.phones).toEqual(reordered);
    });

    it('R1/R2/R4: scope by any of the tags; private records only for their owner', async () => {
      const u1 = await crm.scopeIds({ userId: 'u1', addressTags: ['MM', 'VIP'], activityTags: ['MM'] });
      // a3 private of u1 (tag MM) is in; a4 private of u2 carries MM but is not.
      expect(u1.addresses).toEqual(['a1', 'a3']);
      expect(u1.activities).toEqual(['t1', 't2', 't5']);
      const u2 = await crm.scopeIds({ userId: 'u2', addressTags: ['SS', 'Team Süd'], activityTags: ['SS', 'Team Süd'] });
      expect(u2.addresses).toEqual(['a2', 'a4']);
      expect(u2.activities).toEqual(['t3', 't4']);
      expect(await crm.scopeIds({ userId: 'u3', addressTags: [], activityTags: [] })).toEqual({ addresses: [], activities: [] });
    });

    it('R6: pages the change feed by (updatedAt, id) without missing records that share a timestamp', async () => {
      const ts = '2030-01-01T00:00:00.000Z';
      await db.exec(`update sync_addresses set updated_at = ${stamp(target.name, ts)} where id in ('a1', 'a2', 'a3', 'a4')`);
      await db.exec(`update sync_addresses set updated_at = ${stamp(target.name, '2030-01-01T00:00:00.001Z')} where id = 'a5'`);
      const seen: string[] = [];
      let cursor: CrmCursor | null = { ts: '2029-12-31T23:59:59.999Z', id: '' };
      for (let guard = 0; guard < 10; guard++) {
        const page = await crm.addressChangesSince(cursor, 2);
        seen.push(...page.items.map((a) => a.id));
        expect(page.items.length).toBeLessThanOrEqual(2);
        if (!page.more) break;
        cursor = page.next;
      }
      expect(seen).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
      // Strictly greater: the cursor of a4 leaves exactly a5.
      const rest = await crm.addressChangesSince({ ts, id: 'a4' }, 10);
      expect(rest.items.map((a) => a.id)).toEqual(['a5']);
      expect(rest.more).toBe(false);
      expect(rest.next).toEqual({ ts: expect.stringMatching(/^2030-01-01T00:00:00\.001/), id: 'a5' });
      // Re-reading with an overlap before the cursor finds a record stamped late with an older time.
      await db.exec(`update sync_addresses set updated_at = ${stamp(target.name, '2029-12-31T23:59:00.000Z')} where id = 'a6'`);
      const overlap = await crm.addressChangesSince({ ts: new Date(Date.parse(ts) - 120_000).toISOString(), id: '' }, 100);
      expect(overlap.items.map((a) => a.id)).toEqual(['a6', 'a1', 'a2', 'a3', 'a4', 'a5']);
      const empty = await crm.addressChangesSince({ ts: '2030-01-01T00:00:00.001Z', id: 'a5' }, 10);
      expect(empty).toEqual({ items: [], next: null, more: false });
    });

    it('every write stamps updatedAt with the database clock and bumps the version', async () => {
      const before = (await crm.getActivities(['t2']))[0]!;
      const start = await crm.now();
      const after = await crm.updateActivity('t2', { subject: 'Exposé schicken (dringend)' }, before.version);
      expect(after.subject).toBe('Exposé schicken (dringend)');
      expect(Number(after.version)).toBe(Number(before.version) + 1);
      expect(Date.parse(after.updatedAt)).toBeGreaterThanOrEqual(Date.parse(start) - 1);
      expect(Date.parse(after.updatedAt)).toBeLessThanOrEqual(Date.parse(await crm.now()) + 1);
      const feed = await crm.activityChangesSince({ ts: start, id: '' }, 10);
      expect(feed.items.map((a) => a.id)).toContain('t2');
    });

    it('R20: an update with a stale version fails and writes nothing', async () => {
      const [a1] = await crm.getAddresses(['a1']);
      const fresh = await crm.updateAddress('a1', { note: 'neu' }, a1!.version);
      await expect(crm.updateAddress('a1', { note: 'alt', phones: [] }, a1!.version)).rejects.toBeInstanceOf(CrmVersionConflictError);
      const [now] = await crm.getAddresses(['a1']);
      expect(now).toEqual(fresh);
      expect(now?.note).toBe('neu');
      expect(now?.phones).toHaveLength(2);
      await expect(crm.setDone('t1', true, '999')).rejects.toBeInstanceOf(CrmVersionConflictError);
      expect((await crm.getActivities(['t1']))[0]?.done).toBe(false);
    });

    it('a phone change counts as a change of its address (updatedAt and version)', async () => {
      const [a2] = await crm.getAddresses(['a2']);
      const t0 = await crm.now();
      const after = await crm.updateAddress('a2', { phones: [{ number: '+49 221 555', remark: 'Laden' }] }, a2!.version);
      expect(after.version).not.toBe(a2!.version);
      // a2 was stamped in 2030 by the paging test; the write re-stamps it with the database clock.
      expect(after.updatedAt).not.toBe(a2!.updatedAt);
      expect(Date.parse(after.updatedAt)).toBeGreaterThanOrEqual(Date.parse(t0));
      expect((await crm.addressChangesSince({ ts: t0, id: '' }, 100)).items.map((a) => a.id)).toContain('a2');
    });

    it('R7/R8: removing a tag bumps the record; removing an absent tag changes nothing', async () => {
      const [a1] = await crm.getAddresses(['a1']);
      await crm.removeTag('address', 'a1', 'VIP');
      const [after] = await crm.getAddresses(['a1']);
      expect(after?.tags).toEqual(['MM']);
      expect(after?.version).not.toBe(a1!.version);
      expect(Date.parse(after!.updatedAt)).toBeGreaterThanOrEqual(Date.parse(a1!.updatedAt));
      await crm.removeTag('address', 'a1', 'VIP');
      expect((await crm.getAddresses(['a1']))[0]?.version).toBe(after?.version);
      const [t1] = await crm.getActivities(['t1']);
      await crm.removeTag('activity', 't1', 'MM');
      const [t1After] = await crm.getActivities(['t1']);
      expect(t1After?.tags).toEqual([]);
      expect(t1After?.version).not.toBe(t1!.version);
    });

    it('R17: setDone with the expected version', async () => {
      const [t3] = await crm.getActivities(['t3']);
      const done = await crm.setDone('t3', true, t3!.version);
      expect(done.done).toBe(true);
      expect(done.version).not.toBe(t3!.version);
      expect((await crm.setDone('t3', false, done.version)).done).toBe(false);
    });

    it('creates addresses and activities with generated ids', async () => {
      const address = await crm.createAddress({
        company: '', salutation: 'Herr', title: '', firstName: 'Björn', lastName: 'Weiß', street: '', postalCode: '', city: 'Zürich',
        country: 'Schweiz', fax: '', email: 'b.weiss@example.ch', note: 'vom Gerät', phones: [{ number: '+41 44 000', remark: '' }],
        private: true, owner: 'u3', tags: ['JK'],
      });
      expect(address).toMatchObject({ firstName: 'Björn', private: true, owner: 'u3', tags: ['JK'], version: '1' });
      const activity = await crm.createActivity({
        kind: 'appointment', type: 'Termin', subject: 'Neu vom Gerät', start: '2026-12-01', end: '2026-12-02', allDay: true,
        timeZone: null, due: null, alarmMinutes: null, note: '', done: false, private: false, owner: 'u3',
        participants: ['u3'], addresses: [address.id], tags: ['JK'],
      });
      expect(activity).toMatchObject({ start: '2026-12-01', end: '2026-12-02', allDay: true, addresses: [address.id] });
      const scope = await crm.scopeIds({ userId: 'u3', addressTags: ['JK'], activityTags: ['JK'] });
      expect(scope.addresses).toContain(address.id);
      expect(scope.activities).toContain(activity.id);
    });

    it('R7/R8/D31: deletions leave tombstones (also of records this CRM never held, so an export imports to the same), paged by (deletedAt, kind, id)', async () => {
      const t0 = await crm.now();
      await importExchange(crm, parseExchangeText(JSON.stringify({
        addresses: [{ id: 'a5', deleted: true }], activities: [{ id: 't5', deleted: true }, { id: 'never-existed', deleted: true }],
      }), 'delete.json'), 'delete.json');
      expect(await crm.getAddresses(['a5'])).toEqual([]);
      const seen: string[] = [];
      let cursor: CrmCursor | null = { ts: new Date(Date.parse(t0) - 1).toISOString(), id: '' };
      for (;;) {
        const page = await crm.tombstonesSince(cursor, 1);
        seen.push(...page.items.map((t) => `${t.kind}/${t.id}`));
        if (!page.more) break;
        cursor = page.next;
      }
      expect(seen.sort()).toEqual(['activity/never-existed', 'activity/t5', 'address/a5']);
      const all = await crm.tombstonesSince(null, 10);
      expect(all.items.every((t) => /Z$/.test(t.deletedAt))).toBe(true);
    });

    it('R6/D16: the quiet-path probe sees a change in each feed after its cursor, and none at the feeds\' ends', async () => {
      const tail = async (read: (c: CrmCursor | null, n: number) => Promise<{ items: unknown[]; next: CrmCursor | null; more: boolean }>) => {
        let cursor: CrmCursor | null = null;
        for (;;) {
          const page = await read(cursor, 500);
          if (page.next) cursor = page.next;
          if (!page.more) return cursor;
        }
      };
      const ends = { addresses: await tail((c, n) => crm.addressChangesSince(c, n)), activities: await tail((c, n) => crm.activityChangesSince(c, n)), tombstones: await tail((c, n) => crm.tombstonesSince(c, n)) };
      expect(ends.addresses && ends.activities).toBeTruthy();
      expect(await crm.hasChangesSince(ends)).toBe(false);
      // A feed without a cursor has everything after it.
      expect(await crm.hasChangesSince({ ...ends, addresses: null })).toBe(true);
      // One change in any one feed is seen, whatever the others say (stamped later than every
      // stamp the earlier tests wrote, so the probe, not the clock, is what is tested).
      let now = ends;
      for (const [feed, table, set] of [
        ['activities', 'sync_activities', `updated_at = ${stamp(target.name, '2031-01-01T00:00:00.000Z')} where id = 't1'`],
        ['addresses', 'sync_addresses', `updated_at = ${stamp(target.name, '2031-01-01T00:00:00.000Z')} where id = 'a1'`],
        ['tombstones', 'sync_tombstones', `deleted_at = ${stamp(target.name, '2031-01-01T00:00:00.000Z')} where id = 'probe-gone'`],
      ] as const) {
        if (feed === 'tombstones') await importExchange(crm, parseExchangeText(JSON.stringify({ addresses: [{ id: 'probe-gone', deleted: true }] }), 'probe.json'), 'probe.json');
        await db.exec(`update ${table} set ${set}`);
        expect(await crm.hasChangesSince(now), feed).toBe(true);
        now = { addresses: await tail((c, n) => crm.addressChangesSince(c, n)), activities: await tail((c, n) => crm.activityChangesSince(c, n)), tombstones: await tail((c, n) => crm.tombstonesSince(c, n)) };
        expect(await crm.hasChangesSince(now), feed).toBe(false);
      }
    });

    it('imports in one transaction: a bad reference leaves nothing written', async () => {
      const file = parseExchangeText(JSON.stringify({
        addresses: [{ id: 'new1', company: 'Neu GmbH', tags: ['MM'] }],
        activities: [{ id: 'new2', kind: 'task', type: 'Aufgabe', participants: ['u9'] }],
      }), 'bad.json');
      await expect(importExchange(crm, file, 'bad.json')).rejects.toThrow(/activities\[0\] \(id new2\)\.participants\[0\]: unknown user "u9"/);
      await expect(importExchange(crm, file, 'bad.json')).rejects.toBeInstanceOf(InputError);
      expect(await crm.getAddresses(['new1'])).toEqual([]);
    });

    it('export → import touches nothing; unknown keys are kept', async () => {
      const first = await exportExchange(crm);
      expect(first.addresses.find((a) => a.id === 'a1')).toMatchObject({ crmColor: 'blau' });
      const { file, problems } = validateExchange(JSON.parse(JSON.stringify(first)));
      expect(problems).toEqual([]);
      const summary = await importExchange(crm, file, 'export');
      for (const c of Object.values(summary)) expect(c).toMatchObject({ created: 0, updated: 0, deleted: 0 });
      expect(await exportExchange(crm)).toEqual(first);
    });

    it('the change feed reads an index (EXPLAIN)', async () => {
      // Enough rows that a planner would rather scan than use a useless index.
      const rows = Array.from({ length: 400 }, (_, i) => `('bulk${i}', 1, ${stamp(target.name, new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString())})`);
      await db.exec(`insert into sync_addresses (id, version, updated_at) values ${rows.join(', ')}`);
      await db.exec(`insert into sync_activities (id, kind, type, version, updated_at) values ${rows.map((r) => r.replace(', 1,', ", 'task', 'Aufgabe', 1,")).join(', ')}`);
      await db.exec(`insert into sync_tombstones (kind, id, deleted_at) values ${rows.map((r) => r.replace("('", "('address', '").replace(', 1,', ',')).join(', ')}`);
      if (target.name === 'postgres') await db.exec('analyze sync_addresses; analyze sync_activities; analyze sync_tombstones');
      if (target.name === 'mysql') await db.exec('analyze table sync_addresses, sync_activities, sync_tombstones');
      for (const [view, index] of [['sync_addresses', 'sync_addresses_change'], ['sync_activities', 'sync_activities_change'], ['sync_tombstones', 'sync_tombstones_change']] as const) {
        const plan = await crm.explainChangeQuery(view);
        expect(plan, plan).toContain(index);
        expect(plan).not.toMatch(/Seq Scan|"type":"ALL"|SCAN sync_/);
      }
    });

    it('D109: after a bulk change, a mailbox with a small share reads its page by the tag index; a large share by the change index', async () => {
      // 2,100 addresses changed in one second (a bulk import), all tagged ALL; 23 of them also SMALL.
      const t0 = new Date(Date.UTC(2026, 0, 1, 0, 0, 0)).toISOString();
      const ids = Array.from({ length: FEED_PLAN.byTagMax + 100 }, (_, i) => `share${String(i).padStart(5, '0')}`);
      const at = (i: number) => stamp(target.name, new Date(Date.parse(t0) + 1 + (i % 1000) / 1000).toISOString());
      await db.exec(`insert into sync_addresses (id, version, updated_at) values ${ids.map((id, i) => `('${id}', 1, ${at(i)})`).join(', ')}`);
      const small = ids.filter((_id, i) => i % 91 === 0).slice(0, 23);
      await db.exec(`insert into sync_address_tags (address_id, tag) values ${[...ids.map((id) => `('${id}', 'ALL')`), ...small.map((id) => `('${id}', 'SMALL')`)].join(', ')}`);
      if (target.name === 'postgres') await db.exec('analyze sync_addresses; analyze sync_address_tags');
      if (target.name === 'mysql') await db.exec('analyze table sync_addresses, sync_address_tags');
      const from = { ts: t0, id: '' };
      const scope = (tag: string) => ({ userId: 'u1', tags: [tag], held: [] });
      // The same records either way: the small share whole, the large one paged in (updatedAt, id) order.
      const page = await crm.addressChangesSince(from, 500, scope('SMALL'));
      expect(page.items.map((a) => a.id).sort()).toEqual([...small].sort());
      const big = await crm.addressChangesSince(from, 500, scope('ALL'));
      const order = ids.map((id, i) => ({ id, k: `${at(i)}|${id}` })).sort((x, y) => (x.k < y.k ? -1 : 1));
      expect(big.items.map((a) => a.id)).toEqual(order.slice(0, 500).map((o) => o.id));
      if (target.name === 'sqlite') {
        // SQLite's plan is ours to choose (no statistics): the small share by its tag, not by the range.
        const byTag = await crm.explainChangeQuery('sync_addresses', { from, scope: scope('SMALL') });
        expect(byTag, byTag).toContain('sync_address_tags_tag');
        expect(byTag).not.toContain('sync_addresses_change');
        const byRange = await crm.explainChangeQuery('sync_addresses', { from, scope: scope('ALL') });
        expect(byRange, byRange).toContain('sync_addresses_change');
      }
    });
  });
}

describe.skipIf(targets[1]!.unavailable !== null)('CRM connection errors', () => {
  it('an unreachable database is one line naming the URL without its password', async () => {
    const err = await SqlCrmProvider.open({ dialect: 'postgres', url: 'postgres://sync:geheim123@127.0.0.1:1/crm' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrmUnavailableError);
    const message = (err as Error).message;
    expect(message).toContain('postgres://sync:***@127.0.0.1:1/crm');
    expect(message).toContain('connection refused');
    expect(message).not.toContain('geheim123');
    expect(message.split('\n')).toHaveLength(1);
  });

  it('a schema that does not exist is named as such (not as nine missing views), with the schemas that do', async () => {
    const err = await SqlCrmProvider.open({ dialect: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/test', schema: 'no_such_schema' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrmUnavailableError);
    expect((err as Error).message).toContain('The schema "no_such_schema" does not exist');
    expect((err as Error).message).toMatch(/schemas there: .*public/);
    expect((err as Error).message).not.toContain('sync_addresses');
  });

  it('a schema without any of the views says so in one line, and how to fix it', async () => {
    const err = await SqlCrmProvider.open({ dialect: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/test', schema: 'public' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrmUnavailableError);
    expect((err as Error).message).toContain('has none of the sync_* views');
    expect((err as CrmUnavailableError).remedy).toContain('--schema');
  });
});

describe('demo data', () => {
  it('is valid, deterministic for a day, and realistic', () => {
    const now = new Date('2026-11-23T10:00:00Z');
    const demo = generateDemoCrm(now);
    expect(generateDemoCrm(now)).toEqual(demo);
    const { file, problems } = validateExchange(demo);
    expect(problems).toEqual([]);
    expect(file.users.length).toBeGreaterThanOrEqual(3);
    expect(file.addresses.length).toBeGreaterThanOrEqual(60);
    const activities = demo.activities as { kind: string; start: string | null; end: string | null; allDay: boolean; done: boolean; private: boolean }[];
    expect(activities.filter((a) => a.kind === 'appointment').length).toBeGreaterThanOrEqual(40);
    expect(activities.filter((a) => a.kind === 'task').length).toBeGreaterThanOrEqual(10);
    // Timed appointments across the October change (CEST → CET) and the March change.
    expect(activities.some((a) => a.start?.startsWith('2026-10-25T01:30:00+02:00') && a.end?.endsWith('+01:00'))).toBe(true);
    expect(activities.some((a) => a.start?.startsWith('2027-03-28T01:30:00+01:00') && a.end?.endsWith('+02:00'))).toBe(true);
    expect(activities.some((a) => a.allDay)).toBe(true);
    expect(activities.some((a) => a.done) && activities.some((a) => a.private)).toBe(true);
  });

  it('gives every person the salutation that fits the first name (no "Frau Thomas", no "Herr Lea")', () => {
    const addresses = generateDemoCrm(new Date('2026-11-23T10:00:00Z')).addresses as { salutation: string; firstName: string }[];
    const women = new Set(['Käthe', 'Doris', 'Anja', 'Lea', 'Zoë', 'Bärbel', 'Ülkü', 'Marlene', 'Anna-Lena', 'Frauke']);
    const wrong = addresses.filter((a) => a.salutation !== (women.has(a.firstName) ? 'Frau' : 'Herr')).map((a) => `${a.salutation} ${a.firstName}`);
    expect(wrong).toEqual([]);
  });
});
