// Issue #16: a bulk CRM change inside the overlap window, seen by many mailboxes. N CRM users,
// each with 20 addresses tagged with the user's own tag, N vdir mailboxes (one per user); after
// the first sync and a settling run, one `crm import` changes every record (a new city), then
// ONE `run --once` sweep over all mailboxes, measured (/usr/bin/time -v: user+sys CPU, wall,
// peak RSS). Before the scoped feed every mailbox read the whole feed of every user (N × 20N
// records) and filtered it in JavaScript; with it each mailbox reads its own 20.
//   node bench/scoped-feed-cpu.mjs [N…]      (after npm run build; default 100 300)
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as L from './lib.mjs';

const PER = 20;
const sizes = process.argv.slice(2).map(Number).filter(Boolean);

function docFor(n) {
  const base = L.exchangeDoc({ addresses: n * PER, appointments: 0 });
  const users = Array.from({ length: n }, (_, u) => ({
    ...base.users[0], id: `u${u + 1}`, login: `bench${u + 1}`, email: `bench${u + 1}@example.de`, userTag: `T${u + 1}`, addressTags: [`T${u + 1}`], activityTags: [`T${u + 1}`],
  }));
  const addresses = base.addresses.map((a, i) => ({ ...a, owner: `u${Math.floor(i / PER) + 1}`, tags: [`T${Math.floor(i / PER) + 1}`] }));
  return { users, addresses, activities: [] };
}

const ok = (r, what) => {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr.slice(0, 2000)}`);
  return r;
};

for (const n of sizes.length ? sizes : [100, 300]) {
  const doc = docFor(n);
  const home = L.crmHome(doc, `scoped-${n}`);
  const vdirs = mkdtempSync(join(tmpdir(), 'bench-vdirs-'));
  L.cliSync(home, ['users', 'assign', 'bench1', '--url', 'http://127.0.0.1:9/', '--username', 'bench1', '--password-env', 'BENCH_PW', '--credential-store', 'file', '--no-verify'], { env: { BENCH_PW: L.PASSWORD } });
  const cfgFile = join(home, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
  const [m] = cfg.mailboxes;
  delete m.collections;
  cfg.mailboxes = doc.users.map((u) => ({ ...m, user: u.id, username: u.login, url: `file://${join(vdirs, u.id)}` }));
  writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
  const first = ok(await L.cli(home, ['run', '--once', '--json']), 'first sync');
  ok(await L.cli(home, ['run', '--once']), 'settling run');
  const bulk = join(home, 'bulk.json');
  writeFileSync(bulk, JSON.stringify({ users: doc.users, addresses: doc.addresses.map((a) => ({ ...a, city: `${a.city} Nord` })), activities: [] }));
  L.cliSync(home, ['crm', 'import', bulk]);
  const sweep = ok(await L.cli(home, ['run', '--once', '--json']), 'sweep after the bulk change');
  const sum = (r) => JSON.parse(r.stdout).mailboxes.reduce((s, x) => ({ created: s.created + x.created, updated: s.updated + x.updated, errors: s.errors + (x.errors?.length ?? x.errors ?? 0) }), { created: 0, updated: 0, errors: 0 });
  const pairs = n * n * PER;
  console.log(
    `N=${n} mailboxes × ${PER} contacts: first sync ${first.wall.toFixed(1)} s wall, ${first.cpu.toFixed(2)} s CPU ${JSON.stringify(sum(first))}; ` +
      `sweep after a bulk change of all ${n * PER} records: ${sweep.wall.toFixed(2)} s wall, ${sweep.cpu.toFixed(2)} s CPU, peak RSS ${sweep.rssMb.toFixed(0)} MB, ` +
      `${((sweep.cpu * 1e6) / pairs).toFixed(1)} µs per (mailbox × changed record) ${JSON.stringify(sum(sweep))}`,
  );
}
