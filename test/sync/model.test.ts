// A fast-check model run: random interleavings of CRM edits, device edits and syncs against a
// vdir mailbox. After every sync both sides hold what the model says: one-sided edits survive,
// a field edited on both sides goes to the CRM (crm-wins, R20), and both sides agree.
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig, saveConfig } from '../../src/config/load.js';
import { resolvePaths } from '../../src/config/paths.js';
import { vCardToAddress } from '../../src/mappers/index.js';
import { importExchange, parseExchangeText } from '../../src/providers/crm/exchange.js';
import { openSqlCrmProvider, SqlCrmProvider } from '../../src/providers/crm/index.js';
import { mapperOptions, runOnce } from '../../src/sync/engine.js';
import { openSqliteStateStore } from '../../src/sync/state/sqlite.js';
import { tempHome } from '../helpers/cli.js';
import { smallCrm } from '../helpers/small-crm.js';

const FIELDS = ['city', 'note', 'company', 'email'] as const;
type Field = (typeof FIELDS)[number];
const IDS = ['a1', 'a2', 'a3'] as const;

type Op =
  | { kind: 'crm'; id: (typeof IDS)[number]; field: Field; value: string }
  | { kind: 'device'; id: (typeof IDS)[number]; field: Field; value: string }
  | { kind: 'sync' };

const value = fc.stringMatching(/^[A-Za-zÄÖÜäöüß][A-Za-z0-9ÄÖÜäöüß .-]{0,14}[A-Za-z0-9]$/);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('crm' as const), id: fc.constantFrom(...IDS), field: fc.constantFrom(...FIELDS), value }),
  fc.record({ kind: fc.constant('device' as const), id: fc.constantFrom(...IDS), field: fc.constantFrom(...FIELDS), value: value.map((v) => v + 'x') }),
  fc.constant({ kind: 'sync' as const }),
);

const VCARD_PROP: Record<Field, RegExp> = {
  city: /^ADR;[^:\r\n]*work[^:\r\n]*:(.*)$/im,
  note: /^NOTE[^:\r\n]*:.*$/m,
  company: /^ORG[^:\r\n]*:.*$/m,
  email: /^EMAIL;[^:\r\n]*:.*$/m,
};

function editCard(card: string, field: Field, v: string): string {
  const text = card.replace(/\r?\n[ \t]/g, '');
  switch (field) {
    case 'city':
      return text.replace(VCARD_PROP.city, (line) => {
        const [head, val] = [line.slice(0, line.indexOf(':') + 1), line.slice(line.indexOf(':') + 1)];
        const parts = val.split(';');
        parts[3] = v;
        return head + parts.join(';');
      });
    case 'note':
      return VCARD_PROP.note.test(text) ? text.replace(VCARD_PROP.note, `NOTE:${v}`) : text.replace('END:VCARD', `NOTE:${v}\r\nEND:VCARD`);
    case 'company':
      return VCARD_PROP.company.test(text) ? text.replace(VCARD_PROP.company, `ORG:${v}`) : text.replace('END:VCARD', `ORG:${v}\r\nEND:VCARD`);
    case 'email':
      return VCARD_PROP.email.test(text) ? text.replace(VCARD_PROP.email, `EMAIL;TYPE=work:${v}@example.de`) : text.replace('END:VCARD', `EMAIL;TYPE=work:${v}@example.de\r\nEND:VCARD`);
  }
}

const emailOf = (v: string) => `${v}@example.de`;

describe('model run against a vdir mailbox', () => {
  it('R6, R20, R23: random CRM edits, device edits and syncs converge without losing CRM-owned data', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 14 }), async (ops) => {
        const home = tempHome('sync-cli-model-');
        const paths = resolvePaths(home);
        const vdir = path.join(home, 'vdir');
        await SqlCrmProvider.createTables({ dialect: 'sqlite', url: paths.crmDb });
        const crm = await openSqlCrmProvider({ dialect: 'sqlite', overlapSeconds: 120 }, paths);
        try {
          const doc = smallCrm();
          doc.addresses = doc.addresses.filter((a) => (IDS as readonly string[]).includes(a.id)).map((a) => ({ ...a, private: false, tags: ['MM'] }));
          doc.activities = [];
          await importExchange(crm, parseExchangeText(JSON.stringify(doc), 'model'), 'model');
          const config = parseConfig({ mailboxes: [{ user: 'u1', url: `file://${vdir}`, username: 'local' }] }, 'model');
          saveConfig(paths.configFile, config);
          const opts = mapperOptions(config);
          const sync = async () => {
            const state = await openSqliteStateStore(paths.stateDb);
            try {
              const [r] = await runOnce({ config, paths, crm, state }, {});
              expect(r!.errors).toEqual([]);
              expect(r!.state).toBe('success');
            } finally {
              await state.close();
            }
          };
          const cardFile = (id: string) => {
            const dir = fs.readdirSync(vdir).map((d) => path.join(vdir, d)).find((d) => fs.existsSync(path.join(d, 'displayname')) && fs.readFileSync(path.join(d, 'displayname'), 'utf8').includes('Kontakte'))!;
            const file = fs.readdirSync(dir).find((f) => fs.readFileSync(path.join(dir, f), 'utf8').includes(`UID:sync-cli-address-${id}`));
            return file ? path.join(dir, file) : undefined;
          };
          // Model: agreed values and pending edits per side since the last sync.
          const agreed = new Map<string, string>();
          const pending = { crm: new Map<string, string>(), device: new Map<string, string>() };
          await sync();
          for (const a of await crm.getAddresses([...IDS])) for (const f of FIELDS) agreed.set(`${a.id}.${f}`, a[f]);

          const check = async () => {
            for (const a of await crm.getAddresses([...IDS])) {
              const card = vCardToAddress(fs.readFileSync(cardFile(a.id)!, 'utf8'), opts).fields;
              for (const f of FIELDS) {
                expect(a[f], `CRM ${a.id}.${f}`).toBe(agreed.get(`${a.id}.${f}`));
                expect(card[f], `device ${a.id}.${f}`).toBe(agreed.get(`${a.id}.${f}`));
              }
            }
          };
          for (const op of ops) {
            if (op.kind === 'crm') {
              const [a] = await crm.getAddresses([op.id]);
              const v = op.field === 'email' ? emailOf(op.value) : op.value;
              await crm.updateAddress(op.id, { [op.field]: v }, a!.version);
              pending.crm.set(`${op.id}.${op.field}`, v);
            } else if (op.kind === 'device') {
              const file = cardFile(op.id)!;
              fs.writeFileSync(file, editCard(fs.readFileSync(file, 'utf8'), op.field, op.value));
              pending.device.set(`${op.id}.${op.field}`, op.field === 'email' ? emailOf(op.value) : op.value);
            } else {
              await sync();
              for (const [k, v] of pending.device) if (!pending.crm.has(k)) agreed.set(k, v);
              for (const [k, v] of pending.crm) agreed.set(k, v); // crm-wins on both-sided edits
              pending.crm.clear();
              pending.device.clear();
              await check();
            }
          }
          await sync();
          for (const [k, v] of pending.device) if (!pending.crm.has(k)) agreed.set(k, v);
          for (const [k, v] of pending.crm) agreed.set(k, v);
          await check();
        } finally {
          await crm.close();
          fs.rmSync(home, { recursive: true, force: true });
        }
      }),
      { numRuns: 25, seed: 4711 },
    );
  }, 180_000);
});
