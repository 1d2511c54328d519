// D31/D32 as a property: for any CRM state the engine can produce — CRM edits, device edits,
// device creates and deletes, address deletions with links, syncs in between — `crm export` →
// `crm import` into a fresh CRM → `crm export` gives the identical document (change stamps aside:
// the embedded CRM stamps each record with the time of its own write). A vdir mailbox keeps the
// many syncs fast; the mapping and the engine are the same as against a server.
import fs from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exportExchange, importExchange, parseExchangeText } from '../../src/providers/crm/exchange.js';
import { Scenario } from '../helpers/scenario.js';
import { smallCrm } from '../helpers/small-crm.js';
import { tempHome } from '../helpers/cli.js';
import { exportImportExport } from '../helpers/roundtrip.js';

type Op =
  | { op: 'crm-note'; address: number; note: string }
  | { op: 'crm-phones'; address: number; positions: number[] }
  | { op: 'crm-subject'; activity: number; subject: string }
  | { op: 'device-note'; contact: number; note: string }
  | { op: 'device-mobile'; contact: number; number: string }
  | { op: 'device-create-contact'; name: string; number: string; type: 'CELL' | 'HOME' | 'X-ASSISTANT' }
  | { op: 'device-create-event'; subject: string; minutes: number }
  | { op: 'device-delete'; contact: number }
  | { op: 'crm-delete-address'; address: number }
  | { op: 'sync' };

const word = fc.stringMatching(/^[A-Za-zÄÖÜäöüß]{1,8}$/);
const digits = fc.stringMatching(/^[1-9][0-9]{3,7}$/).map((d) => `+49 30 ${d}`);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('crm-note' as const), address: fc.nat(4), note: word }),
  fc.record({ op: fc.constant('crm-phones' as const), address: fc.nat(4), positions: fc.uniqueArray(fc.nat(7), { maxLength: 3 }) }),
  fc.record({ op: fc.constant('crm-subject' as const), activity: fc.nat(5), subject: word }),
  fc.record({ op: fc.constant('device-note' as const), contact: fc.nat(6), note: word }),
  fc.record({ op: fc.constant('device-mobile' as const), contact: fc.nat(6), number: digits }),
  fc.record({ op: fc.constant('device-create-contact' as const), name: word, number: digits, type: fc.constantFrom('CELL' as const, 'HOME' as const, 'X-ASSISTANT' as const) }),
  // Negative minutes: an end before the start, which the CRM refuses (D32).
  fc.record({ op: fc.constant('device-create-event' as const), subject: word, minutes: fc.integer({ min: -90, max: 180 }) }),
  fc.record({ op: fc.constant('device-delete' as const), contact: fc.nat(6) }),
  fc.record({ op: fc.constant('crm-delete-address' as const), address: fc.nat(4) }),
  fc.constant({ op: 'sync' as const }),
);

async function apply(s: Scenario, folders: { contacts: string; appointments: string }, op: Op, n: number): Promise<void> {
  const contacts = () => fs.readdirSync(folders.contacts).filter((f) => f.endsWith('.vcf')).sort();
  const addresses = async () => (await exportExchange(s.crm)).addresses.filter((a) => a.deleted === false).map((a) => String(a.id)).sort();
  const pick = <T,>(list: T[], i: number) => (list.length ? list[i % list.length] : undefined);
  switch (op.op) {
    case 'sync':
      await s.syncOk();
      return;
    case 'crm-note':
    case 'crm-phones': {
      const id = pick(await addresses(), op.address);
      if (!id) return;
      const rec = (await s.crm.getAddresses([id]))[0]!;
      if (op.op === 'crm-note') await s.crm.updateAddress(id, { note: op.note }, rec.version);
      else {
        const phones = Array.from({ length: Math.max(0, ...op.positions.map((p) => p + 1)) }, (_, i) => ({ number: op.positions.includes(i) ? `+49 89 ${n}${i}` : '', remark: '' }));
        await s.crm.updateAddress(id, { phones }, rec.version);
      }
      return;
    }
    case 'crm-subject': {
      const ids = (await exportExchange(s.crm)).activities.filter((a) => a.deleted === false).map((a) => String(a.id)).sort();
      const id = pick(ids, op.activity);
      if (!id) return;
      const rec = (await s.crm.getActivities([id]))[0]!;
      await s.crm.updateActivity(id, { subject: op.subject }, rec.version);
      return;
    }
    case 'crm-delete-address': {
      const id = pick(await addresses(), op.address);
      if (id) await importExchange(s.crm, parseExchangeText(JSON.stringify({ addresses: [{ id, deleted: true }] }), 'delete.json'), 'delete.json');
      return;
    }
    case 'device-note':
    case 'device-mobile': {
      const f = pick(contacts(), op.contact);
      if (!f) return;
      const path = `${folders.contacts}${f}`;
      const raw = fs.readFileSync(path, 'utf8').replace(/\r?\nNOTE:[^\r\n]*/g, '');
      const line = op.op === 'device-note' ? `NOTE:${op.note}` : `TEL;TYPE=CELL:${op.number}`;
      fs.writeFileSync(path, raw.replace(/END:VCARD\s*$/, `${line}\r\nEND:VCARD\r\n`));
      return;
    }
    case 'device-create-contact':
      fs.writeFileSync(
        `${folders.contacts}dev-${n}.vcf`,
        `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:dev-contact-${n}\r\nN:${op.name};Geräte;;;\r\nFN:Geräte ${op.name}\r\nTEL;TYPE=${op.type}:${op.number}\r\nEND:VCARD\r\n`,
      );
      return;
    case 'device-create-event': {
      const start = Date.UTC(2026, 11, 1 + (n % 20), 9, 0, 0);
      const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
      fs.writeFileSync(
        `${folders.appointments}dev-${n}.ics`,
        `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:dev-event-${n}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:${stamp(start)}\r\nDTEND:${stamp(start + op.minutes * 60_000)}\r\nSUMMARY:${op.subject}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`,
      );
      return;
    }
    case 'device-delete': {
      const f = pick(contacts(), op.contact);
      if (f) fs.rmSync(`${folders.contacts}${f}`);
      return;
    }
  }
}

describe('D31: crm export → crm import → crm export is the identity', () => {
  it('D31/D32/R12: for any CRM state the engine can produce, a fresh CRM imports the export and exports the same document', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 10 }), async (ops) => {
        const root = tempHome('sync-cli-prop-vdir-');
        const s = await Scenario.create({ logins: ['mmueller'], exchange: smallCrm(), mailbox: { url: `file://${root}/` } });
        try {
          await s.syncOk();
          const cols = await s.collectionsOf(await s.userId('mmueller'));
          const folders = { contacts: cols.contacts!.url, appointments: cols.appointments!.url };
          let n = 0;
          for (const op of ops) await apply(s, folders, op, n++);
          await s.syncOk();
          const { first, second } = await exportImportExport(s.crm);
          expect(second).toEqual(first);
        } finally {
          await s.stop();
          fs.rmSync(root, { recursive: true, force: true });
        }
      }),
      { numRuns: 25 },
    );
  }, 240_000);
});
