// Client CPU of the runs after a first upload, without a server: 2,000 contacts + 500
// appointments into a vdir, then three no-change runs and three one-change runs (one CRM
// address edited through `crm import` before each), each `run --once` measured like the others
// (/usr/bin/time -v: user+sys CPU, peak RSS). A vdir has no sync token: every run lists and
// compares every item — the state store's batched lookups are on the path, the network is not.
//   node bench/quiet-runs-cpu.mjs            (after npm run build)
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as L from './lib.mjs';

const doc = L.exchangeDoc({ addresses: 2000, appointments: 500 });
const home = L.crmHome(doc, 'quiet');
L.assign(home, `file://${mkdtempSync(join(tmpdir(), 'bench-vdir-'))}`);
const ok = (r, what) => {
  if (r.code !== 0) throw new Error(`${what} failed: ${r.stderr}`);
  return r;
};
ok(await L.cli(home, ['run', '--once']), 'first upload');
ok(await L.cli(home, ['run', '--once']), 'settling run'); // the CRM overlap window is re-read once
const quiet = [];
for (let i = 0; i < 3; i++) quiet.push(ok(await L.cli(home, ['run', '--once']), 'no-change run'));
const one = [];
for (let i = 0; i < 3; i++) {
  const rec = doc.addresses[i];
  const file = join(home, `one-change-${i}.json`);
  writeFileSync(file, JSON.stringify({ users: doc.users, addresses: [{ ...rec, street: `Neue Straße ${i}` }], activities: [] }));
  L.cliSync(home, ['crm', 'import', file]);
  one.push(ok(await L.cli(home, ['run', '--once']), 'one-change run'));
}
const f = (rs, k, d = 2) => rs.map((r) => r[k].toFixed(d)).join(', ');
console.log(`no-change runs (2,500-item vdir): CPU s ${f(quiet, 'cpu')}; wall s ${f(quiet, 'wall')}; peak RSS MB ${f(quiet, 'rssMb', 0)}`);
console.log(`one-change runs (2,500-item vdir): CPU s ${f(one, 'cpu')}; wall s ${f(one, 'wall')}; peak RSS MB ${f(one, 'rssMb', 0)}`);
