// Peak RSS of the 20,000-item initial sync (18,000 contacts + 2,000 appointments from the
// embedded CRM into a fresh vdir mailbox), measured with /usr/bin/time -v like step 4 of
// bench.mjs, but without servers: quick enough to iterate on.
//   node bench/rss-20k.mjs [runs=2]            (after npm run build)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as L from './lib.mjs';

const runs = Number(process.argv[2] ?? 2);
const doc = L.exchangeDoc({ addresses: 18000, appointments: 2000 });
const out = [];
for (let i = 0; i < runs; i++) {
  const home = L.crmHome(doc, 'rss');
  L.assign(home, `file://${mkdtempSync(join(tmpdir(), 'bench-vdir-'))}`);
  const r = await L.cli(home, ['run', '--once']);
  if (r.code !== 0) throw new Error(`run failed: ${r.stderr}`);
  out.push(r);
}
console.log(`20k initial sync into a vdir: peak RSS MB ${out.map((r) => r.rssMb.toFixed(0)).join(', ')}; wall s ${out.map((r) => r.wall.toFixed(1)).join(', ')}; CPU s ${out.map((r) => r.cpu.toFixed(2)).join(', ')}`);
