// The first upload's client CPU against the raw-PUT floor, smaller than bench.mjs step 1 so it
// can be repeated while working on it: N contacts + N/4 appointments from the embedded CRM into
// fresh collections of one Radicale, measured in the order floor, sync-cli, sync-cli, floor
// (so neither is always measured first), each a process of its own under /usr/bin/time.
//   node bench/first-upload-floor.mjs [--contacts 1000] [--rounds 1] [--profile DIR]
// --profile also writes a --cpu-prof of one more floor and one more sync-cli upload into
// DIR/floor and DIR/sync-cli and prints their top functions by self time.
// --base PATH (another build's bin/sync-cli) adds it to every round, in the order floor, this
// build, base, base, this build, floor: a before/after comparison on the same servers.
// --base-node-args "ARGS" runs the base with these node options (e.g. --base bin/sync-cli
// --base-node-args=--single-threaded-gc compares one build with and without a V8 flag).
// --threads runs one more of each with bench/thread-times.mjs preloaded and prints the CPU of
// each thread (main, V8's helpers, libuv's pool): what a main-thread profile does not show.
// --strace DIR runs one more of each under `strace -f -c` (every thread) and prints the system
// calls each made, by count: wake-ups (epoll_wait), socket calls, file writes per item.
// --perf DIR runs one more of each under `perf record` (cpu-clock, every thread, node's
// --perf-basic-prof for the names of JIT code) and prints where the CPU went by shared object
// and the top symbols: what a V8 profile counts as idle (the kernel, libuv, SQLite, OpenSSL).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { topFunctions } from './cpuprofile-top.mjs';
import * as L from './lib.mjs';

const { values: opt } = parseArgs({ options: { contacts: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '1' }, profile: { type: 'string' }, threads: { type: 'boolean' }, strace: { type: 'string' }, perf: { type: 'string' }, 'base-node-args': { type: 'string', default: '' }, base: { type: 'string' } } });
const rounds = Number(opt.rounds);
const contacts = Number(opt.contacts);
const doc = L.exchangeDoc({ addresses: contacts, appointments: contacts / 4 });
const auth = (user) => `Basic ${Buffer.from(`${user}:${L.PASSWORD}`).toString('base64')}`;
const ok = (r, what) => {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r;
};

// The exact items sync-cli uploads: written by sync-cli itself into a vdir first.
const srcHome = L.crmHome(doc, 'floor-src');
const vdir = mkdtempSync(join(tmpdir(), 'bench-vdir-floor-'));
L.assign(srcHome, pathToFileURL(vdir).href);
ok(await L.cli(srcHome, ['run', '--once']), 'sync-cli into a vdir');
const folders = [
  { folder: join(vdir, 'CRM-Kontakte'), ext: '.vcf', type: 'text/vcard; charset=utf-8', kind: 'addressbook' },
  { folder: join(vdir, 'CRM-Termine'), ext: '.ics', type: 'text/calendar; charset=utf-8', kind: 'calendar' },
];

const rad = await L.startRadicale();
let floors = 0;
// --strace: the command run under `strace -f -c -o FILE` instead of directly.
// --strace/--perf: one more floor and sync-cli run under a tool, (file, node args) → [command, argv].
let wrapWith = null;
const run = (args, env) => (wrapWith ? L.measured(...wrapWith(args), { env }) : L.measured(process.execPath, args, { env }));
async function eachUnder(dir, ext, wrap, report) {
  mkdirSync(dir, { recursive: true });
  for (const [name, fn] of [['floor', floor], ['sync-cli', syncCli]]) {
    const file = join(dir, `${name}.${ext}`);
    wrapWith = (args) => wrap(file, args);
    try {
      await fn();
    } finally {
      wrapWith = null;
    }
    await report(name, file);
  }
}
async function floor(nodeArgs = [], env = {}) {
  const n = ++floors;
  const jobs = [];
  for (const f of folders) {
    const path = `/floor/${f.kind}-${n}/`;
    const body = f.kind === 'calendar'
      ? '<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>floor</D:displayname></D:prop></D:set></C:mkcalendar>'
      : '<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>';
    const res = await fetch(`${rad.url}${path}`, { method: f.kind === 'calendar' ? 'MKCALENDAR' : 'MKCOL', headers: { Authorization: auth('floor'), 'Content-Type': 'application/xml' }, body });
    if (res.status >= 300) throw new Error(`making ${path}: HTTP ${res.status}`);
    for (const name of readdirSync(f.folder).filter((x) => x.endsWith(f.ext)).sort()) jobs.push({ url: `${rad.url}${path}${encodeURIComponent(name)}`, file: join(f.folder, name), type: f.type });
  }
  const file = join(mkdtempSync(join(tmpdir(), 'bench-floor-')), 'jobs.json');
  writeFileSync(file, JSON.stringify({ concurrency: 4, authorization: auth('floor'), jobs }));
  const r = ok(await run([...nodeArgs, join(L.ROOT, 'bench', 'put-floor.mjs'), file], env), 'raw PUT floor');
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  if (out.failures) throw new Error(`floor: ${out.failures} PUTs failed`);
  return r;
}
async function syncCli(nodeArgs = [], env = {}, cli = L.CLI) {
  const home = L.crmHome(doc, 'floor-sync');
  // Each run its own Radicale user, so its collections start empty like the floor's.
  const user = `u${floors}${Math.random().toString(36).slice(2, 8)}`;
  writeFileSync(join(rad.dataDir, 'users'), `${readFileSync(join(rad.dataDir, 'users'), 'utf8')}${user}:${L.PASSWORD}\n`);
  L.assign(home, `${rad.url}/`, user);
  return ok(await run([...nodeArgs, cli, '--home', home, 'run', '--once'], env), 'sync-cli first upload');
}

const rows = { floor: [], sync: [], base: [] };
const base = () => syncCli(opt['base-node-args'].split(' ').filter(Boolean), {}, opt.base);
try {
  for (let i = 0; i < rounds; i++) {
    rows.floor.push(await floor());
    rows.sync.push(await syncCli());
    if (opt.base) rows.base.push(await base(), await base());
    rows.sync.push(await syncCli());
    rows.floor.push(await floor());
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const show = (rs) => rs.map((r) => `${r.cpu.toFixed(2)} s CPU / ${r.wall.toFixed(1)} s wall`).join(', ');
  console.log(`first upload of ${contacts} contacts + ${contacts / 4} appointments into Radicale`);
  if (rounds) {
  console.log(`  raw PUT floor: ${show(rows.floor)}`);
  console.log(`  sync-cli:      ${show(rows.sync)}`);
  const f = med(rows.floor.map((r) => r.cpu));
  const s = med(rows.sync.map((r) => r.cpu));
  if (opt.base) console.log(`  base:          ${show(rows.base)} (${opt.base})`);
  console.log(`  medians: floor ${f.toFixed(2)} s, sync-cli ${s.toFixed(2)} s: ${(s / f).toFixed(2)}× the floor's CPU; wall ${(med(rows.sync.map((r) => r.wall)) / med(rows.floor.map((r) => r.wall))).toFixed(2)}×`);
  if (opt.base) console.log(`  base median ${med(rows.base.map((r) => r.cpu)).toFixed(2)} s: ${(med(rows.base.map((r) => r.cpu)) / f).toFixed(2)}× the floor's CPU`);
  }
  if (opt.profile) {
    for (const [name, run] of [['floor', floor], ['sync-cli', syncCli]]) {
      const dir = join(opt.profile, name);
      mkdirSync(dir, { recursive: true });
      await run(['--cpu-prof', '--cpu-prof-dir', dir]);
      const file = readdirSync(dir).filter((x) => x.endsWith('.cpuprofile')).sort().pop();
      console.log(`  ${name}: profile ${join(dir, file)}, top self time:`);
      for (const t of topFunctions(join(dir, file), 25)) console.log(`    ${String(t.selfMs).padStart(6)} ms ${String(t.pct).padStart(5)} %  ${t.name}  ${t.where}`);
    }
  }
  if (opt.threads) {
    for (const [name, run] of [['floor', floor], ['sync-cli', syncCli]]) {
      const file = join(mkdtempSync(join(tmpdir(), 'bench-threads-')), 'threads.json');
      const r = await run(['--import', pathToFileURL(join(L.ROOT, 'bench', 'thread-times.mjs')).href], { THREAD_TIMES_FILE: file });
      const threads = JSON.parse(readFileSync(file, 'utf8'));
      const byName = new Map();
      for (const t of threads) {
        const key = t.tid === Math.min(...threads.map((x) => x.tid)) ? 'main' : t.name;
        const s = byName.get(key) ?? { n: 0, user: 0, sys: 0 };
        byName.set(key, { n: s.n + 1, user: s.user + t.user, sys: s.sys + t.sys });
      }
      console.log(`  ${name}: ${r.cpu.toFixed(2)} s CPU (user ${r.user.toFixed(2)}, sys ${r.sys.toFixed(2)}) by thread at exit:`);
      for (const [k, v] of [...byName].sort((a, b) => b[1].user + b[1].sys - a[1].user - a[1].sys)) console.log(`    ${k.padEnd(16)} ×${v.n}  user ${v.user.toFixed(2)}  sys ${v.sys.toFixed(2)}`);
    }
  }
  if (opt.strace) {
    await eachUnder(opt.strace, 'txt', (file, args) => ['strace', ['-f', '-c', '-o', file, process.execPath, ...args]], (name, file) => {
      // strace -c: "% time seconds usecs/call calls errors syscall", then a total line.
      const rowsOf = readFileSync(file, 'utf8').split('\n').map((l) => l.trim().split(/\s+/)).filter((c) => c.length >= 5 && /^\d/.test(c[0]) && /^\d+$/.test(c[3]));
      const calls = rowsOf.map((c) => ({ name: c[c.length - 1], calls: Number(c[3]) })).sort((a, b) => b.calls - a.calls);
      console.log(`  ${name}: system calls (all threads), ${file}:`);
      for (const c of calls.slice(0, 18)) console.log(`    ${String(c.calls).padStart(8)}  ${c.name}`);
    });
  }
  if (opt.perf) {
    const perfRecord = (file, args) => ['perf', ['record', '-e', 'cpu-clock', '-F', '999', '-g', '-o', file, '--', process.execPath, '--perf-basic-prof', ...args]];
    await eachUnder(opt.perf, 'data', perfRecord, async (name, file) => {
      for (const sort of ['dso', 'dso,sym']) {
        const r = await L.measured('perf', ['report', '-i', file, '--no-children', '--sort', sort, '--stdio', '-g', 'none', '--percent-limit', sort === 'dso' ? '0.5' : '0.4'], {});
        const out = join(opt.perf, `${name}.${sort.replace(',', '-')}.txt`);
        writeFileSync(out, r.stdout);
        const lines = r.stdout.split('\n').filter((l) => /^\s+\d/.test(l));
        console.log(`  ${name}: perf, by ${sort === 'dso' ? 'shared object' : 'symbol'} (${out}):`);
        for (const l of lines.slice(0, sort === 'dso' ? 12 : 30)) console.log(`    ${l.trim().slice(0, 150)}`);
      }
    });
  }
} finally {
  await rad.stop();
}
