// The corpus of real client output (test/fixtures/corpus, sources in test/fixtures/SOURCES.md)
// through the real engine: import, check what a user would check in the CRM, change one CRM field,
// sync, and prove the server item differs from what the client wrote only in lines the CRM owns.
// A second sync writes nothing. Items Radicale refuses outright run through a vdir mailbox.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportExchange } from '../../src/providers/crm/exchange.js';
import type { Activity, Address } from '../../src/providers/crm/model.js';
import { Scenario, type CollectionKind } from '../helpers/scenario.js';
import { tempHome } from '../helpers/cli.js';
import { CORPUS, type CorpusEntry } from '../fixtures/corpus-table.js';

const dir = new URL('../fixtures/corpus/', import.meta.url);
const read = (name: string) => fs.readFileSync(new URL(name, dir), 'utf8');
const kindOf = (name: string, raw: string): CollectionKind => (name.endsWith('.vcf') ? 'contacts' : /BEGIN:VTODO/.test(raw) ? 'tasks' : 'appointments');

/** Lines the CRM owns (M1, R10–R19) plus the bookkeeping a write carries; the rest is the client's. */
const OWNED: Record<'vcard' | 'ical', Set<string>> = {
  // UID: added to a card that has none (Gmail, FullContact exports); an existing UID never changes.
  vcard: new Set(['N', 'FN', 'ORG', 'ADR', 'EMAIL', 'TEL', 'NOTE', 'CATEGORIES', 'REV', 'PRODID', 'X-SYNC-CLI-ID', 'X-ABLABEL', 'VERSION', 'UID']),
  ical: new Set([
    'SUMMARY', 'DTSTART', 'DTEND', 'DUE', 'DURATION', 'DESCRIPTION', 'CLASS', 'STATUS', 'COMPLETED', 'PERCENT-COMPLETE', 'X-SYNC-CLI-DONE',
    'TRIGGER', 'DTSTAMP', 'LAST-MODIFIED', 'SEQUENCE', 'PRODID', 'X-SYNC-CLI-ID',
  ]),
};

function unfoldedLines(s: string): string[] {
  return s.replace(/\r?\n[ \t]/g, '').split(/\r?\n/).filter((l) => l !== '');
}

function propName(line: string): string {
  const head = /^[^:;]*/.exec(line)![0];
  return (head.includes('.') ? head.slice(head.indexOf('.') + 1) : head).toUpperCase();
}

/** Lines of `after` not in `before` and the other way round, as multisets. */
function diff(before: string, after: string): { added: string[]; removed: string[] } {
  const count = new Map<string, number>();
  for (const l of unfoldedLines(before)) count.set(l, (count.get(l) ?? 0) + 1);
  const added: string[] = [];
  for (const l of unfoldedLines(after)) {
    const n = count.get(l) ?? 0;
    if (n > 0) count.set(l, n - 1);
    else added.push(l);
  }
  const removed = [...count].flatMap(([l, n]) => Array<string>(n).fill(l));
  return { added, removed };
}

function notOwned(name: string, before: string, after: string): string[] {
  const owned = OWNED[name.endsWith('.vcf') ? 'vcard' : 'ical'];
  const { added, removed } = diff(before, after);
  return [...added.map((l) => `+ ${l}`), ...removed.map((l) => `- ${l}`)].filter((l) => !owned.has(propName(l.slice(2))));
}

interface Device {
  put(kind: CollectionKind, name: string, data: string): Promise<string>;
  get(href: string): Promise<string>;
}

interface Run {
  s: Scenario;
  device: Device;
  hrefs: Map<string, string>;
  /** The item as the server held it before the first sync (what the client wrote, as stored). */
  written: Map<string, string>;
  afterImport: Map<string, string>;
  afterChange: Map<string, string>;
  secondSync: { created: number; updated: number; deleted: number; crmUpdates: number; attention: number };
  addresses: Address[];
  activities: Activity[];
  attention: Set<string>;
}

async function radicaleDevice(s: Scenario): Promise<Device> {
  const dev = await s.device('mmueller');
  return {
    put: (kind, name, data) => dev.create(kind, name, data),
    get: async (href) => (await fetch(href, { headers: { Authorization: 'Basic ' + Buffer.from(`mmueller:${s.passwords.mmueller}`).toString('base64') } })).text(),
  };
}

async function vdirDevice(s: Scenario): Promise<Device> {
  const cols = await s.collectionsOf(await s.userId('mmueller'));
  return {
    put: async (kind, name, data) => {
      const href = `${cols[kind]!.url}${name}`;
      fs.writeFileSync(href, data);
      return href;
    },
    get: async (href) => fs.readFileSync(href, 'utf8'),
  };
}

async function runCorpus(entries: CorpusEntry[], route: 'radicale' | 'vdir'): Promise<Run> {
  const vdirRoot = route === 'vdir' ? tempHome('sync-cli-corpus-vdir-') : null;
  // An empty CRM but the user: everything in it afterwards came from the corpus.
  const exchange = { users: [{ id: 'u1', login: 'mmueller', name: 'Max Müller', userTag: 'MM', addressTags: ['MM'], activityTags: ['MM'] }], addresses: [], activities: [] };
  const s = await Scenario.create({ exchange, ...(vdirRoot ? { mailbox: { url: `file://${vdirRoot}/` } } : {}) });
  await s.syncOk();
  const device = route === 'vdir' ? await vdirDevice(s) : await radicaleDevice(s);
  const hrefs = new Map<string, string>();
  const written = new Map<string, string>();
  for (const e of entries) {
    const raw = read(e.file);
    const href = await device.put(kindOf(e.file, raw), e.file, raw);
    hrefs.set(e.file, href);
    written.set(e.file, await device.get(href));
  }
  const first = await s.syncOk();
  const imported = await exportExchange(s.crm);
  const addresses = await s.crm.getAddresses(imported.addresses.map((a) => String(a.id)));
  const activities = await s.crm.getActivities(imported.activities.map((a) => String(a.id)));
  const attention = new Set(first[0]!.attention.map((a) => [...hrefs].find(([, h]) => h === a.item)?.[0] ?? a.item));
  const afterImport = new Map<string, string>();
  for (const [f, h] of hrefs) afterImport.set(f, await device.get(h));

  // One CRM field changed per imported record: the note of each address, the subject of each activity.
  for (const a of addresses) {
    const rec = (await s.crm.getAddresses([a.id]))[0]!;
    await s.crm.updateAddress(a.id, { note: `${rec.note}\nCRM: Rückruf erbeten`.trimStart() }, rec.version);
  }
  for (const a of activities) {
    const rec = (await s.crm.getActivities([a.id]))[0]!;
    await s.crm.updateActivity(a.id, { subject: `${rec.subject} (CRM)` }, rec.version);
  }
  await s.syncOk();
  const afterChange = new Map<string, string>();
  for (const [f, h] of hrefs) afterChange.set(f, await device.get(h));
  const again = (await s.syncOk())[0]!;
  return {
    s, device, hrefs, written, afterImport, afterChange, addresses, activities, attention,
    secondSync: { created: again.created, updated: again.updated, deleted: again.deleted, crmUpdates: again.crmUpdates, attention: again.attention.length },
  };
}

/** The CRM record imported from a corpus item (its device UID is kept; the marker links it, D9). */
function recordOf(run: Run, file: string): Address | Activity | undefined {
  const raw = run.afterImport.get(file)!;
  const m = /X-SYNC-CLI-ID:(address|activity):([^\r\n]+)/.exec(raw);
  if (!m) return undefined;
  return m[1] === 'address' ? run.addresses.find((a) => a.id === m[2]) : run.activities.find((a) => a.id === m[2]);
}

for (const route of ['radicale', 'vdir'] as const) {
  const entries = CORPUS.filter((e) => e.route === route);
  describe(`corpus of real client output through the engine (${route}, ${entries.length} items)`, () => {
    let run: Run;
    beforeAll(async () => {
      run = await runCorpus(entries, route);
    }, 120_000);
    afterAll(async () => run?.s.stop());

    it('M14: every item reaches the CRM with the fields a user would check, or stays on the device for the reason its entry names', () => {
      for (const e of entries) {
        const rec = recordOf(run, e.file);
        if (e.crm === null) {
          expect(rec, `${e.file} must stay device-only (${e.deviceOnly})`).toBeUndefined();
          if (e.deviceOnly === 'attention') expect(run.attention.has(e.file), `${e.file} is reported as needing attention`).toBe(true);
          continue;
        }
        expect(rec, `${e.file} must reach the CRM`).toBeDefined();
        const got = rec as unknown as Record<string, unknown>;
        for (const [k, want] of Object.entries(e.crm)) {
          const instant = /Instant$/.exec(k) ? k.slice(0, -'Instant'.length) : null;
          const have = k === 'phones' ? (got.phones as { number: string }[]).map((p) => p.number) : instant ? Date.parse(String(got[instant])) : got[k];
          expect(have, `${e.file}: CRM ${k}`).toEqual(instant ? Date.parse(String(want)) : want);
        }
      }
    });

    it('M14/R11: at import the server item differs from what the client wrote only in lines the CRM owns', () => {
      for (const e of entries) expect(notOwned(e.file, run.written.get(e.file)!, run.afterImport.get(e.file)!), e.file).toEqual([]);
    });

    it('M14/R11: after a CRM change of one field the item differs from what the client wrote only in lines the CRM owns', () => {
      for (const e of entries) {
        expect(notOwned(e.file, run.written.get(e.file)!, run.afterChange.get(e.file)!), e.file).toEqual([]);
        if (e.crm !== null) {
          const changed = unfoldedLines(run.afterChange.get(e.file)!);
          expect(changed.some((l) => (e.file.endsWith('.vcf') ? /^NOTE[:;].*CRM: Rückruf erbeten/ : /^SUMMARY[:;].*\(CRM\)$/).test(l)), `${e.file} shows the CRM change`).toBe(true);
        } else expect(run.afterChange.get(e.file), `${e.file} is untouched`).toBe(run.written.get(e.file));
      }
    });

    it('M11/M7: the display name (FN) and the number of alarms stay as the client wrote them (the CRM changed neither)', () => {
      const fn = (raw: string) => unfoldedLines(raw).filter((l) => propName(l) === 'FN');
      const alarms = (raw: string) => unfoldedLines(raw).filter((l) => l === 'BEGIN:VALARM').length;
      for (const e of entries) {
        for (const after of [run.afterImport.get(e.file)!, run.afterChange.get(e.file)!]) {
          if (e.file.endsWith('.vcf')) expect(fn(after), e.file).toEqual(fn(run.written.get(e.file)!));
          else if (!(e.crm && e.crm.done === true)) expect(alarms(after), e.file).toBe(alarms(run.written.get(e.file)!));
        }
      }
    });

    it('M14/R6: a second sync writes nothing and reports nothing again', () => {
      expect(run.secondSync).toEqual({ created: 0, updated: 0, deleted: 0, crmUpdates: 0, attention: 0 });
    });
  });
}
