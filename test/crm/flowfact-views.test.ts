// The worked example of docs/crm-views.md on PostgreSQL: FlowFact-style tables + the view script,
// read and written through the provider. Also the LISTEN/NOTIFY trigger of sql/postgres/notify.sql.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CrmVersionConflictError } from '../../src/errors.js';
import { SqlCrmProvider } from '../../src/providers/crm/sql-provider.js';
import { postgresTarget, postgresUser, type TestDatabase } from './databases.js';

const root = path.resolve(import.meta.dirname, '../..');
const readSql = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

const rows = `
INSERT INTO BEN (BENID, KUERZEL, VORNAME, NACHNAME, EMAIL, BENMKM) VALUES
  ('B1', 'mmueller', 'Max', 'Müller', 'm@example.de', 'MM'),
  ('B2', 'sschaefer', 'Sabine', 'Schäfer', NULL, 'SS');
INSERT INTO AD (ADID, FIRMA, VORNAME, NACHNAME, STRASSE, PLZ, ORT, LAND, KATEGORIE, BESITZER) VALUES
  ('AD1', 'Muster Immobilien GmbH', 'Erika', 'Mustermann', 'Hauptstraße 5', '80331', 'München', 'Deutschland', 'Geschäftlich', 'B1'),
  ('AD2', '', 'Jörg', 'Privatmann', '', '', 'Köln', '', 'Privat', 'B2'),
  ('AD3', 'Ohne Merkmal AG', '', '', '', '', '', '', 'Geschäftlich', NULL);
INSERT INTO ADTEL (ADID, LFDNR, LANDVORWAHL, VORWAHL, RUFNUMMER, NOTIZ) VALUES
  ('AD1', 2, '+49', '170', '5550101', 'nur vormittags'),
  ('AD1', 1, '+49', '89', '1234-0', 'Zentrale');
INSERT INTO ADMKM (ADID, MERKMAL, AKTIV) VALUES ('AD1', 'MM', 1), ('AD1', 'VIP', 1), ('AD1', 'Alt', 0), ('AD2', 'MM', 1), ('AD2', 'SS', 1);
INSERT INTO AKT (AKTID, KLASSE, ART, BETREFF, BESITZER, PRIVAT, ERLEDIGT) VALUES
  ('K1', 'T', 'Termin extern', 'Besichtigung Hauptstraße 5', 'B1', 0, 0),
  ('K2', 'A', 'Aufgabe', 'Exposé schicken', 'B1', 0, 0),
  ('K3', 'E', 'E-Mail', 'Angebot', 'B1', 0, 1);
INSERT INTO AKTDET (AKTID, BEGINN, ENDE, GANZTAGS, ZEITZONE, FAELLIG, ALARM_MIN, NOTIZ, ADID) VALUES
  ('K1', '2026-11-25T10:00:00+01:00', '2026-11-25T11:00:00+01:00', 0, 'Europe/Berlin', NULL, 15, 'Schlüssel beim Hausmeister', 'AD1'),
  ('K2', NULL, NULL, 0, NULL, '2026-11-27', NULL, '', NULL),
  ('K3', NULL, NULL, 0, NULL, NULL, NULL, '', NULL);
INSERT INTO AKTMKM (AKTID, MERKMAL) VALUES ('K1', 'MM'), ('K1', 'SS'), ('K2', 'MM'), ('K3', 'MM');
`;

describe.skipIf(postgresTarget.unavailable !== null)('FlowFact-style views on PostgreSQL (sql/flowfact)', () => {
  let db: TestDatabase;
  let crm: SqlCrmProvider;

  beforeAll(async () => {
    db = await postgresTarget.create();
    await db.exec(readSql('sql/flowfact/schema.sql'));
    await db.exec(readSql('sql/flowfact/views.sql'));
    await db.exec(rows);
    crm = await SqlCrmProvider.open(db.options);
  });
  afterAll(async () => {
    await crm?.close();
    await db?.drop();
  });

  it('passes the contract check and keeps no unknown keys (no extra column)', () => {
    expect(crm.hasExtra).toBe(false);
  });

  it('reads users with the user Merkmal as user tag', async () => {
    expect(await crm.listUsers()).toEqual([
      expect.objectContaining({ id: 'B1', login: 'mmueller', name: 'Max Müller', userTag: 'MM', addressTags: ['MM'], activityTags: ['MM'] }),
      expect.objectContaining({ id: 'B2', login: 'sschaefer', name: 'Sabine Schäfer', email: null, userTag: 'SS' }),
    ]);
  });

  it('reads addresses with ordered phones, active Merkmale and the private category', async () => {
    const [ad1, ad2] = await crm.getAddresses(['AD1', 'AD2']);
    expect(ad1).toMatchObject({
      company: 'Muster Immobilien GmbH', street: 'Hauptstraße 5', city: 'München', private: false, owner: 'B1', tags: ['MM', 'VIP'],
      phones: [{ number: '+49 89 1234-0', remark: 'Zentrale' }, { number: '+49 170 5550101', remark: 'nur vormittags' }],
    });
    expect(ad1?.updatedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z$/);
    expect(ad2).toMatchObject({ private: true, owner: 'B2' });
  });

  it('reads appointments and tasks (not e-mails) with participants from user Merkmale and the linked address', async () => {
    const acts = await crm.getActivities(['K1', 'K2', 'K3']);
    expect(acts.map((a) => a.id)).toEqual(['K1', 'K2']);
    expect(acts[0]).toMatchObject({
      kind: 'appointment', type: 'Termin extern', start: '2026-11-25T10:00:00+01:00', alarmMinutes: 15,
      participants: ['B1', 'B2'], addresses: ['AD1'], tags: ['MM', 'SS'], note: 'Schlüssel beim Hausmeister',
    });
    expect(acts[1]).toMatchObject({ kind: 'task', due: '2026-11-27', addresses: [] });
  });

  it('R1/R4: scope by Merkmale; a private address only for its owner', async () => {
    expect(await crm.scopeIds({ userId: 'B1', addressTags: ['MM'], activityTags: ['MM'] })).toEqual({ addresses: ['AD1'], activities: ['K1', 'K2'] });
    expect((await crm.scopeIds({ userId: 'B2', addressTags: ['MM'], activityTags: [] })).addresses).toEqual(['AD1', 'AD2']);
  });

  it('R6: a phone changed in the CRM makes its address show up in the change feed', async () => {
    const t0 = await crm.now();
    await db.exec("UPDATE ADTEL SET NOTIZ = 'Zentrale (neu)' WHERE ADID = 'AD1' AND LFDNR = 1");
    const page = await crm.addressChangesSince({ ts: t0, id: '' }, 10);
    expect(page.items.map((a) => a.id)).toEqual(['AD1']);
    expect(page.items[0]?.phones[0]?.remark).toBe('Zentrale (neu)');
  });

  it('R7: an address deleted in the CRM is a tombstone from DELLOG', async () => {
    const t0 = await crm.now();
    await db.exec("DELETE FROM AD WHERE ADID = 'AD3'");
    const page = await crm.tombstonesSince({ ts: t0, id: '' }, 10);
    expect(page.items).toEqual([{ kind: 'address', id: 'AD3', deletedAt: expect.stringMatching(/Z$/) }]);
  });

  it('writes through the INSTEAD OF triggers into AD, ADTEL, ADMKM, AKT and AKTMKM', async () => {
    const [ad1] = await crm.getAddresses(['AD1']);
    const updated = await crm.updateAddress('AD1', { note: 'vom Gerät', phones: [...ad1!.phones, { number: '+49 171 999', remark: '' }] }, ad1!.version);
    expect(updated.note).toBe('vom Gerät');
    expect(updated.phones.map((p) => p.number)).toEqual(['+49 89 1234-0', '+49 170 5550101', '+49 171 999']);
    await expect(crm.updateAddress('AD1', { note: 'alt' }, ad1!.version)).rejects.toBeInstanceOf(CrmVersionConflictError);

    await crm.removeTag('address', 'AD1', 'VIP');
    expect((await crm.getAddresses(['AD1']))[0]?.tags).toEqual(['MM']);

    const [k1] = await crm.getActivities(['K1']);
    expect((await crm.setDone('K1', true, k1!.version)).done).toBe(true);

    const created = await crm.createAddress({
      company: 'Neu vom iPhone', salutation: '', title: '', firstName: 'Zoë', lastName: 'Weiß', street: '', postalCode: '', city: '',
      country: '', fax: '', email: '', note: '', phones: [{ number: '0170 1', remark: '' }], private: true, owner: 'B1', tags: ['MM'],
    });
    expect(created).toMatchObject({ firstName: 'Zoë', private: true, tags: ['MM'], phones: [{ number: '0170 1', remark: '' }] });
    const task = await crm.createActivity({
      kind: 'task', type: 'Aufgabe', subject: 'Rückruf', start: null, end: null, allDay: false, timeZone: null, due: '2026-12-01',
      alarmMinutes: null, note: '', done: false, private: false, owner: 'B2', participants: ['B2'], addresses: [created.id], tags: ['SS'],
    });
    expect(task).toMatchObject({ participants: ['B2'], tags: ['SS'], addresses: [created.id], due: '2026-12-01' });

    const client = new pg.Client({ host: '127.0.0.1', user: postgresUser ?? 'postgres', database: 'test', options: `-c search_path=${db.options.schema}` });
    await client.connect();
    try {
      expect((await client.query("SELECT KATEGORIE FROM AD WHERE ADID = $1", [created.id])).rows).toEqual([{ kategorie: 'Privat' }]);
      // Only the added number was written; the untouched ones keep their split form.
      expect((await client.query("SELECT RUFNUMMER, LFDNR FROM ADTEL WHERE ADID = 'AD1' ORDER BY LFDNR")).rows.map((r: { rufnummer: string }) => r.rufnummer)).toEqual(['1234-0', '5550101', '+49 171 999']);
      expect((await client.query("SELECT ERLEDIGT FROM AKT WHERE AKTID = 'K1'")).rows).toEqual([{ erledigt: 1 }]);
      expect((await client.query('SELECT MERKMAL FROM AKTMKM WHERE AKTID = $1', [task.id])).rows).toEqual([{ merkmal: 'SS' }]);
    } finally {
      await client.end();
    }
  });

  it('the change feed and the deletion log are read through indexes (EXPLAIN)', async () => {
    await db.exec(`INSERT INTO AD (ADID, GEAENDERT) SELECT 'bulk' || g, now() - g * interval '1 minute' FROM generate_series(1, 3000) g;
      INSERT INTO AKT (AKTID, KLASSE, ART, GEAENDERT) SELECT 'bulk' || g, 'T', 'Termin', now() - g * interval '1 minute' FROM generate_series(1, 3000) g;
      INSERT INTO DELLOG (TABELLE, SATZID, GELOESCHT) SELECT 'AD', 'old' || g, now() - g * interval '1 minute' FROM generate_series(1, 3000) g;
      ANALYZE AD; ANALYZE AKT; ANALYZE DELLOG;`);
    expect(await crm.explainChangeQuery('sync_addresses')).toContain('ad_sync_change');
    expect(await crm.explainChangeQuery('sync_activities')).toContain('akt_sync_change');
    expect(await crm.explainChangeQuery('sync_tombstones')).toContain('dellog_sync_change');
  });
});

describe.skipIf(postgresTarget.unavailable !== null)('sql/postgres/notify.sql', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await postgresTarget.create();
    await SqlCrmProvider.createTables(db.options);
    await db.exec(readSql('sql/postgres/notify.sql'));
  });
  afterAll(async () => db?.drop());

  it('notifies sync_cli_crm with kind:id when a record is written', async () => {
    const listener = new pg.Client({ host: '127.0.0.1', user: postgresUser ?? 'postgres', database: 'test' });
    await listener.connect();
    const payloads: string[] = [];
    listener.on('notification', (n) => payloads.push(n.payload ?? ''));
    await listener.query('LISTEN sync_cli_crm');
    const crm = await SqlCrmProvider.open(db.options);
    try {
      const a = await crm.createAddress({
        company: 'Push GmbH', salutation: '', title: '', firstName: '', lastName: '', street: '', postalCode: '', city: '', country: '',
        fax: '', email: '', note: '', phones: [], private: false, owner: null, tags: [],
      });
      for (let i = 0; i < 50 && !payloads.length; i++) await new Promise((r) => setTimeout(r, 20));
      expect(payloads).toEqual([`address:${a.id}`]);
    } finally {
      await crm.close();
      await listener.end();
    }
  });
});
