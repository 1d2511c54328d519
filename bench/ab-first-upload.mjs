// A B … B A of first uploads by sync-cli variants (no floor): which of two builds, or of two node
// option sets, costs less client CPU on the same servers, the same day. Each variant is a JSON
// object { "name", "cli"?: path of a bin/sync-cli, "nodeArgs"?: [...] }.
//   node bench/ab-first-upload.mjs --contacts 1000 --rounds 2 '{"name":"main"}' '{"name":"x","nodeArgs":["--trace-gc"]}'
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as L from './lib.mjs';

const { values: opt, positionals } = parseArgs({ allowPositionals: true, options: { contacts: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '1' } } });
const variants = positionals.map((p) => JSON.parse(p));
if (variants.length < 2) throw new Error('give at least two variants');
const contacts = Number(opt.contacts);
const doc = L.exchangeDoc({ addresses: contacts, appointments: contacts / 4 });
const rad = await L.startRadicale();
const cpu = new Map(variants.map((v) => [v.name, []]));
let n = 0;
async function once(v) {
  const home = L.crmHome(doc, 'ab');
  const user = `u${++n}${Math.random().toString(36).slice(2, 8)}`;
  writeFileSync(`${rad.dataDir}/users`, `${readFileSync(`${rad.dataDir}/users`, 'utf8')}${user}:${L.PASSWORD}\n`);
  L.assign(home, `${rad.url}/`, user);
  const r = await L.measured(process.execPath, [...(v.nodeArgs ?? []), v.cli ?? L.CLI, '--home', home, 'run', '--once']);
  if (r.code !== 0) throw new Error(`${v.name} exited ${r.code}: ${r.stderr.slice(-1500)}`);
  cpu.get(v.name).push(r.cpu);
  console.log(`  ${v.name.padEnd(12)} ${r.cpu.toFixed(2)} s CPU (user ${r.user.toFixed(2)}, sys ${r.sys.toFixed(2)}), ${r.wall.toFixed(1)} s wall, ${r.rssMb.toFixed(0)} MB`);
}
try {
  for (let i = 0; i < Number(opt.rounds); i++) {
    for (const v of variants) await once(v);
    for (const v of [...variants].reverse()) await once(v);
  }
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  for (const [name, xs] of cpu) console.log(`${name.padEnd(12)} median ${med(xs).toFixed(2)} s (${xs.map((x) => x.toFixed(2)).join(', ')})`);
} finally {
  await rad.stop();
}
