// The first upload's client CPU without a server: 2,000 contacts + 500 appointments from the
// embedded CRM into a fresh vdir mailbox, three times, each in a fresh home.
//   node bench/first-upload-cpu.mjs            (after npm run build)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as L from './lib.mjs';

const doc = L.exchangeDoc({ addresses: 2000, appointments: 500 });
const cpu = [];
for (let i = 0; i < 3; i++) {
  const home = L.crmHome(doc, 'cpu');
  L.assign(home, `file://${mkdtempSync(join(tmpdir(), 'bench-vdir-'))}`);
  cpu.push((await L.cli(home, ['run', '--once'])).cpu);
}
console.log(`first upload into a vdir (2,500 items), client CPU s: ${cpu.map((c) => c.toFixed(2)).join(', ')}`);
