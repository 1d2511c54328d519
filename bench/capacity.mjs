// Issue #16: capacity. N mailboxes (one per CRM user, 20 contacts + 3 appointments each) over S
// Radicale instances (N/S users each), filled on disk with the items sync-cli writes (as step 2b
// of bench.mjs does), adopted by a first `run --once`, then one no-change sweep per mode:
//   sqlite  the single-process daemon on its SQLite state (the sweep: every mailbox triggered at
//           once by a signed webhook `{}`, measured from the daemon's own log)
//   once    one `sync-cli run --once` over all N mailboxes on the SQLite state (the whole process)
//   wK      the state moved to PostgreSQL (`state connect postgres`, schema cap_<pid>), one
//           scheduling daemon + K `sync-cli worker` processes, each in its own --home (the sweep:
//           the leader's takeover enqueues every mailbox; from the leader's log line to the last
//           mailbox synced, from every process's log)
// plus the servers' floor (the same sync-collection REPORTs, with a current token, sent by a bare
// loop at the same concurrency) and, with --bulk, the first sweep after one `crm import` that
// changes every record (run with the processes of the last mode).
//
//   npm run build && node bench/capacity.mjs --mailboxes 1000 --servers 1 --modes sqlite,w1,w2,w4 --bulk
// Options: --mailboxes N (100), --servers S (1), --modes list (sqlite,w1,w2,w4; also once; wKcC = K workers
//   at --concurrency C), --bulk, --no-floor, --no-wait (skip waiting out the CRM overlap window: a
//   dev run), --daemon-sweeps K (sweeps of the sqlite daemon, 1), --daemon-jobs J (sync.mailboxConcurrency of the cluster's scheduling daemon, 1),
//   --adopt-concurrency M (mailboxes at once in the first sync, 4), --layout interleaved|blocks,
//   --pg private|shared (a PostgreSQL of its own, default, or 127.0.0.1:5432 db test),
//   --prepare DIR (import, fill, first sync; keep them in DIR and stop), --from DIR (start from
//   a prepared DIR: same --mailboxes/--servers/--layout), --keep (leave the work dir), --label TEXT.
// CPU: user+sys from /proc/PID/stat (sync-cli processes, Radicale servers, PostgreSQL backends of
// the run's sessions, found by application_name), deltas over the sweep. Requests: counted from
// Radicale's own log (level info: one line per request), no proxy in the path. Every server and
// process is stopped by pid at the end (also on Ctrl-C and on errors), the schema dropped, the
// temp dir removed. Results: bench/results/capacity-<label>.json and .md (git-ignored).
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync, chmodSync, copyFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import * as L from './lib.mjs';

const PER = 20; // contacts per user
const APPT = 3; // appointments per user
const ITEMS = PER + APPT;
const CONCURRENCY = 4; // sync.mailboxConcurrency and dav.concurrency defaults
// --pg private (default): a PostgreSQL of its own (initdb as user postgres in a temp dir, a free
// loopback port, max_connections 500), so other users of the shared server neither take its
// connections nor blur its CPU; --pg shared: the machine's 127.0.0.1:5432, db test.
const PG_MODE = (() => {
  const i = process.argv.indexOf('--pg');
  return i >= 0 ? process.argv[i + 1] : 'private';
})();
let PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
let privatePg; // { pid (postmaster), dir, port }

// ---------------------------------------------------------------------------------------------
// The floor child: `node capacity.mjs --floor-child tokens|run FILE`
if (process.argv[2] === '--floor-child') {
  await floorChild(process.argv[3], process.argv[4]);
  process.exit(0);
}

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const N = Number(opt('mailboxes', 100));
const S = Number(opt('servers', 1));
const MODES = opt('modes', 'sqlite,w1,w2,w4').split(',').filter(Boolean);
const BULK = argv.includes('--bulk');
const FLOOR = !argv.includes('--no-floor');
const WAIT = !argv.includes('--no-wait');
const DAEMON_SWEEPS = Number(opt('daemon-sweeps', '1'));
const DAEMON_JOBS = Number(opt('daemon-jobs', 1));
const LABEL = opt('label', `n${N}-s${S}`);
const PREPARE = opt('prepare'); // do steps 1–4 only, keep the home and the servers' storage in this folder
const FROM = opt('from'); // start from a folder made by --prepare (same --mailboxes/--servers)
const ADOPT_CONCURRENCY = Number(opt('adopt-concurrency', CONCURRENCY));
const LAYOUT = opt('layout', 'interleaved'); // see serverOf
if (!Number.isInteger(N) || N < 1 || !Number.isInteger(S) || S < 1 || N % S) throw new Error('--mailboxes must be a multiple of --servers');
if (!existsSync(join(L.ROOT, 'dist', 'cli.js'))) throw new Error('build first: npm run build');

const t0 = Date.now();
const log = (...a) => console.error(`[capacity ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s]`, ...a);
const sh = (cmd) => spawnSync('bash', ['-c', cmd], { encoding: 'utf8' }).stdout.trim();
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const round = (x, d = 3) => (typeof x === 'number' && Number.isFinite(x) ? +x.toFixed(d) : x);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const work = mkdtempSync(join(tmpdir(), 'bench-capacity-'));
const schema = `cap_${process.pid}`;
const R = {
  label: LABEL, mailboxes: N, servers: S, layout: LAYOUT, modes: MODES, bulk: BULK, perMailbox: { contacts: PER, appointments: APPT },
  startedAt: new Date().toISOString(),
  machine: {
    nproc: Number(sh('nproc')), cpu: cpus()[0]?.model, memGb: +(totalmem() / 2 ** 30).toFixed(1), node: process.version,
    radicale: sh('radicale --version'), postgres: sh("psql -h 127.0.0.1 -U postgres -d test -Atc 'show server_version' 2>/dev/null"),
    commit: sh(`git -C ${L.ROOT} rev-parse --short HEAD`), kernel: sh('uname -r'),
  },
  steps: {},
};

// ---------------------------------------------------------------------------------------------
// Cleanup: every child by pid, the schemas, the temp dir; also on Ctrl-C and errors.
const procs = new Set(); // { child, name }
const servers = [];
let schemaCreated = false;
let cleaned = false;
/** Pids of this process's descendants (a measured child under /usr/bin/time, too), from /proc. */
function descendants() {
  const kids = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch {
      /* gone */
    }
  }
  const out = [];
  const walk = (pid) => {
    for (const k of kids.get(pid) ?? []) {
      out.push(k);
      walk(k);
    }
  };
  walk(process.pid);
  return out;
}
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
async function startPrivatePg() {
  const bin = readdirSync('/usr/lib/postgresql').sort().map((v) => join('/usr/lib/postgresql', v, 'bin')).pop();
  const dir = mkdtempSync(join(tmpdir(), 'bench-capacity-pg-'));
  chmodSync(dir, 0o700);
  spawnSync('chown', ['-R', 'postgres:postgres', dir]);
  const init = spawnSync('runuser', ['-u', 'postgres', '--', join(bin, 'initdb'), '-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync'], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb: ${init.stderr}`);
  const port = await L.freePort();
  const fd = openSync(join(dir, 'server.log'), 'a');
  spawn('runuser', ['-u', 'postgres', '--', join(bin, 'postgres'), '-D', join(dir, 'data'), '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=500'], { stdio: ['ignore', fd, fd], detached: false });
  closeSync(fd);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  for (let i = 0; ; i++) {
    const c = new pg.Client(url);
    try {
      await c.connect();
      await c.end();
      break;
    } catch (err) {
      await c.end().catch(() => undefined);
      if (i > 200) throw new Error(`private PostgreSQL did not start: ${err.message}`);
      await sleep(100);
    }
  }
  const pid = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  privatePg = { pid, dir, port };
  PG_URL = url;
  return privatePg;
}
/** CPU seconds of the whole private PostgreSQL so far: the postmaster, its live children, and the reaped ones (cutime/cstime). */
function pgInstanceCpu() {
  if (!privatePg) return NaN;
  const f = readFileSync(`/proc/${privatePg.pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  let ticks = Number(x[11]) + Number(x[12]) + Number(x[13]) + Number(x[14]);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const y = st.slice(st.lastIndexOf(')') + 2).split(' ');
      if (Number(y[1]) === privatePg.pid) ticks += Number(y[11]) + Number(y[12]);
    } catch {
      /* gone */
    }
  }
  return ticks / 100;
}
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  // The private PostgreSQL goes as a whole (its schemas with it): fast shutdown by the postmaster's pid.
  if (privatePg) {
    try {
      process.kill(privatePg.pid, 'SIGINT');
      for (let i = 0; i < 150 && alive(privatePg.pid); i++) await sleep(100);
    } catch {
      /* gone */
    }
    rmSync(privatePg.dir, { recursive: true, force: true });
    schemaCreated = false;
  }
  // Anything else still running below this process (a measured `run --once`, the floor child): by pid.
  for (const pid of descendants().reverse()) {
    try {
      if (servers.some((x) => x.pid === pid)) continue;
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const s of servers) await s.stop().catch(() => undefined);
  if (schemaCreated) {
    const c = new pg.Client(PG_URL);
    try {
      await c.connect();
      for (const s of [schema, `${schema}_queue`, `${schema}_cluster`]) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    } catch (err) {
      console.error(`cannot drop schema ${schema}: ${err.message}`);
    } finally {
      await c.end().catch(() => undefined);
    }
  }
  // The sync-cli processes' logs (every sync with its duration) stay for a later look (git-ignored).
  try {
    const logDir = join(L.ROOT, 'bench', 'results', `capacity-${LABEL}-logs`);
    mkdirSync(logDir, { recursive: true });
    for (const f of readdirSync(work)) if (f.endsWith('.log') && !f.startsWith('radicale')) copyFileSync(join(work, f), join(logDir, f));
  } catch (err) {
    console.error(`cannot keep the logs: ${err.message}`);
  }
  if (!argv.includes('--keep')) rmSync(work, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    console.error(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
/** N users, each with PER tagged addresses and APPT appointments of their own. */
function makeDoc(n) {
  const base = L.exchangeDoc({ addresses: n * PER, appointments: n * APPT });
  const users = Array.from({ length: n }, (_, u) => ({
    ...base.users[0], id: `u${u + 1}`, login: `bench${u + 1}`, email: `bench${u + 1}@example.de`, name: `Bench User ${u + 1}`, userTag: `T${u + 1}`, addressTags: [`T${u + 1}`], activityTags: [`T${u + 1}`],
  }));
  const addresses = base.addresses.map((a, i) => ({ ...a, owner: `u${Math.floor(i / PER) + 1}`, tags: [`T${Math.floor(i / PER) + 1}`] }));
  const activities = base.activities.map((a, i) => {
    const u = Math.floor(i / APPT);
    return { ...a, owner: `u${u + 1}`, participants: [`u${u + 1}`], addresses: [`a${u * PER + 1 + (i % PER)}`], tags: [`T${u + 1}`] };
  });
  return { users, addresses, activities };
}

// User k (1-based) → server index. Interleaved (default): users 1, S+1, 2S+1, … on server 0, so a
// sweep in user order reaches every server at once; `--layout blocks`: users 1…N/S on server 0,
// and so on (a sweep in user order then keeps one server busy at a time).
const serverOf = (k) => (LAYOUT === 'blocks' ? Math.floor((k - 1) / (N / S)) : (k - 1) % S);
const COLLS = [
  { dir: 'crm-contacts', src: 'CRM-Kontakte', props: { 'D:displayname': 'CRM Kontakte', tag: 'VADDRESSBOOK' } },
  { dir: 'crm-appointments', src: 'CRM-Termine', props: { 'D:displayname': 'CRM Termine', tag: 'VCALENDAR', 'C:supported-calendar-component-set': 'VEVENT' } },
  { dir: 'crm-tasks', src: 'CRM-Aufgaben', props: { 'D:displayname': 'CRM Aufgaben', tag: 'VCALENDAR', 'C:supported-calendar-component-set': 'VTODO' } },
];

function readJson(f) {
  return JSON.parse(readFileSync(f, 'utf8'));
}
function writeJson(f, v, mode) {
  writeFileSync(f, JSON.stringify(v, null, 2), mode ? { mode } : undefined);
}

/** A home that shares the main home's CRM file (crm.url) and copies its config and secrets. */
function sideHome(name, main, edit) {
  const home = join(work, name);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  chmodSync(home, 0o700);
  for (const f of readdirSync(main)) {
    const from = join(main, f);
    if (statSync(from).isFile() && !/\.(sqlite|db|lock)(-wal|-shm)?$/.test(f) && !f.endsWith('.json.bak') && f !== 'exchange.json' && f !== 'bulk.json') {
      copyFileSync(from, join(home, f));
      chmodSync(join(home, f), 0o600);
    }
  }
  const cfg = readJson(join(home, 'config.json'));
  cfg.crm = { ...cfg.crm, url: join(main, 'crm.sqlite') };
  delete cfg.daemon.httpPort;
  edit?.(cfg);
  writeJson(join(home, 'config.json'), cfg, 0o600);
  return home;
}

const cpuOf = (pid) => L.procCpuSeconds(pid);
const ok = (r, what) => {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`);
  return r;
};
const clusterEnv = { SYNC_CLI_CLUSTER_KEY: '', CREDENTIALS_DIRECTORY: '', NO_COLOR: '1' };

// ---------------------------------------------------------------------------------------------
// Logs of the sync-cli processes (JSON lines in files), read incrementally.
class LogTail {
  constructor(file) {
    this.file = file;
    this.offset = 0;
    this.rest = '';
    this.lines = [];
  }
  poll() {
    let fd;
    try {
      fd = openSync(this.file, 'r');
    } catch {
      return [];
    }
    const fresh = [];
    try {
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        const text = this.rest + buf.subarray(0, n).toString('utf8');
        const parts = text.split('\n');
        this.rest = parts.pop();
        for (const l of parts) {
          if (!l.startsWith('{')) continue;
          try {
            const j = JSON.parse(l);
            j.ts = Date.parse(j.timestamp);
            fresh.push(j);
          } catch {
            /* a partial or foreign line */
          }
        }
      }
    } finally {
      closeSync(fd);
    }
    this.lines.push(...fresh);
    return fresh;
  }
}

/** A sync-cli process with its JSON log in a file. */
function startCli(name, home, args, env = {}) {
  const logFile = join(work, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [L.CLI, '--home', home, '--log-format', 'json', '--log-level', 'info', ...args], { stdio: ['ignore', fd, fd], env: { ...process.env, ...clusterEnv, ...env } });
  closeSync(fd);
  const p = { name, child, home, tail: new LogTail(logFile), logFile, pid: child.pid };
  procs.add(p);
  return p;
}
async function stopCli(p, graceMs = 30_000) {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    const exited = new Promise((r) => p.child.once('exit', r));
    p.child.kill('SIGTERM');
    const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  }
  procs.delete(p);
}
async function waitForLine(p, re, ms) {
  const end = Date.now() + ms;
  for (;;) {
    p.tail.poll();
    const hit = p.tail.lines.find((l) => re.test(l.message));
    if (hit) return hit;
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited ${p.child.exitCode}: ${readFileSync(p.logFile, 'utf8').slice(-3000)}`);
    if (Date.now() > end) throw new Error(`${p.name}: no log line ${re} within ${ms} ms: ${readFileSync(p.logFile, 'utf8').slice(-3000)}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------
// Radicale: CPU and requests (from its log) over a window.
const REQ_RE = /\[INFO\] (\w+) request for /;
function serverMark() {
  return servers.map((s) => ({ cpu: cpuOf(s.pid), offset: existsSync(s.logFile) ? statSync(s.logFile).size : 0 }));
}
function serverSince(mark) {
  const byMethod = {};
  let cpu = 0;
  const perServer = [];
  servers.forEach((s, i) => {
    const c = cpuOf(s.pid) - mark[i].cpu;
    cpu += c;
    const size = statSync(s.logFile).size;
    const fd = openSync(s.logFile, 'r');
    const buf = Buffer.alloc(size - mark[i].offset);
    readSync(fd, buf, 0, buf.length, mark[i].offset);
    closeSync(fd);
    let n = 0;
    for (const line of buf.toString('utf8').split('\n')) {
      const m = REQ_RE.exec(line);
      if (m) {
        byMethod[m[1]] = (byMethod[m[1]] ?? 0) + 1;
        n++;
      }
    }
    perServer.push({ cpu: round(c, 2), requests: n });
  });
  return { cpu: round(cpu, 2), requests: byMethod, total: Object.values(byMethod).reduce((a, b) => a + b, 0), perServer };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: the backends of this run's sessions (application_name names the client pid), their
// CPU from /proc, sampled every second (a backend that ends between samples loses < 1 s of its
// CPU), and the peak number of sessions per client process and component.
class PgSampler {
  constructor(pids) {
    this.pids = new Set(pids.map(String));
    this.backends = new Map(); // backend pid → { app, base, last }
    this.peak = new Map(); // "clientPid component" → max sessions
    this.peakTotal = 0;
  }
  async start() {
    this.client = new pg.Client({ connectionString: PG_URL, application_name: 'capacity-bench sampler' });
    await this.client.connect();
    await this.sample(true);
    this.timer = setInterval(() => void this.sample(false).catch(() => undefined), 1000);
  }
  clientOf(app) {
    // "sync-cli <pid> <host>" (state), "sync-cli queue <pid>", "sync-cli holds <pid>", "sync-cli server-slots <pid>", "sync-cli leader <pid>"
    const m = /^sync-cli (?:(\w[\w-]*) )?(\d+)/.exec(app ?? '');
    if (!m || !this.pids.has(m[2])) return null;
    return { pid: m[2], component: m[1] ?? 'state' };
  }
  async sample(first) {
    const { rows } = await this.client.query("SELECT pid, application_name AS app FROM pg_stat_activity WHERE application_name LIKE 'sync-cli%'");
    const counts = new Map();
    let total = 0;
    for (const r of rows) {
      const who = this.clientOf(r.app);
      if (!who) continue;
      total++;
      const k = `${who.pid} ${who.component}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
      const cpu = cpuOf(r.pid);
      if (!Number.isFinite(cpu)) continue;
      const b = this.backends.get(r.pid);
      if (b) b.last = cpu;
      else this.backends.set(r.pid, { app: r.app, base: first ? cpu : 0, last: cpu });
    }
    for (const [k, v] of counts) this.peak.set(k, Math.max(this.peak.get(k) ?? 0, v));
    this.peakTotal = Math.max(this.peakTotal, total);
  }
  async stop() {
    clearInterval(this.timer);
    await this.sample(false);
    await this.client.end();
    let cpu = 0;
    for (const b of this.backends.values()) cpu += b.last - b.base;
    const byComponent = {};
    for (const [k, v] of this.peak) {
      const comp = k.split(' ')[1];
      byComponent[comp] = Math.max(byComponent[comp] ?? 0, v);
    }
    const perProcess = {};
    for (const [k, v] of this.peak) {
      const [pid] = k.split(' ');
      perProcess[pid] = (perProcess[pid] ?? 0) + v;
    }
    return { cpu: round(cpu, 2), backends: this.backends.size, peakSessions: this.peakTotal, peakPerProcess: perProcess, peakPerComponentOfOneProcess: byComponent };
  }
}

// ---------------------------------------------------------------------------------------------
// The sweep: done when every mailbox has a "synced" line after `since` (and, for the bulk, has
// had all its items updated).
function sweepState(ps, since, needUpdated = 0) {
  const first = new Map();
  const updated = new Map();
  let syncs = 0;
  let failed = 0;
  let busy = 0;
  let minStart = Infinity;
  const jobsBy = {};
  for (const p of ps) {
    for (const l of p.tail.lines) {
      if (l.ts < since || typeof l.durationMs !== 'number' || !l.user) continue;
      if (l.outcome === 'busy') {
        busy++;
        continue;
      }
      if (!/^synced /.test(l.message)) {
        if (/^sync of /.test(l.message)) failed++;
        continue;
      }
      syncs++;
      jobsBy[p.name] = (jobsBy[p.name] ?? 0) + 1;
      minStart = Math.min(minStart, l.ts - l.durationMs);
      updated.set(l.user, (updated.get(l.user) ?? 0) + (l.updated ?? 0));
      const done = needUpdated ? (updated.get(l.user) ?? 0) >= needUpdated : true;
      if (done && !first.has(l.user)) first.set(l.user, l.ts);
    }
  }
  const times = [...first.values()].sort((a, b) => a - b);
  const last = times.length ? times[times.length - 1] : NaN;
  // When 50 / 90 / 99 % of all N mailboxes were done (absolute ms; NaN while fewer are done).
  const at = (q) => times[Math.ceil(q * N) - 1] ?? NaN;
  return { done: first.size, last, p50: at(0.5), p90: at(0.9), p99: at(0.99), minStart, syncs, failed, busy, jobsBy, updated: [...updated.values()].reduce((a, b) => a + b, 0) };
}
async function waitForSweep(ps, since, { needUpdated = 0, timeoutMs }) {
  const end = Date.now() + timeoutMs;
  let lastLog = Date.now();
  for (;;) {
    for (const p of ps) {
      p.tail.poll();
      if (p.child.exitCode !== null) throw new Error(`${p.name} exited ${p.child.exitCode}: ${readFileSync(p.logFile, 'utf8').slice(-3000)}`);
    }
    const st = sweepState(ps, since, needUpdated);
    if (st.done >= N) return st;
    if (Date.now() > end) throw new Error(`sweep not done within ${timeoutMs} ms: ${st.done}/${N} mailboxes, ${st.failed} failed syncs`);
    if (Date.now() - lastLog > 15_000) {
      lastLog = Date.now();
      log(`  … ${st.done}/${N} mailboxes (${st.syncs} syncs, ${st.failed} failed), load ${loadavg()}`);
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
/** Signed webhook POST (HMAC-SHA256 over "<ts>.<body>", src/daemon/webhook.ts). */
function postWebhook(port, secret, payload) {
  const body = JSON.stringify(payload);
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = crypto.createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/hooks/crm', method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Sync-Timestamp': ts, 'X-Sync-Signature': `sha256=${sig}`, 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => (res.statusCode >= 200 && res.statusCode < 300 ? resolve(data) : reject(new Error(`webhook: HTTP ${res.statusCode} ${data}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------
// The floor: the same sync-collection REPORTs (with a current token) per collection, from a bare
// Node loop in its own process, CONCURRENCY at a time per server.
function authOf(user) {
  return 'Basic ' + Buffer.from(`${user}:${L.PASSWORD}`).toString('base64');
}
function reportBody(token) {
  return `<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`;
}

async function floorChild(phase, file) {
  const spec = readJson(file);
  const agents = new Map();
  const agentFor = (origin) => {
    if (!agents.has(origin)) agents.set(origin, new http.Agent({ keepAlive: true, maxSockets: spec.perServer }));
    return agents.get(origin);
  };
  const report = (job, token) =>
    new Promise((resolve, reject) => {
      const u = new URL(job.url);
      const body = reportBody(token ?? '');
      const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'REPORT', agent: agentFor(u.origin), headers: { Authorization: authOf(job.user), 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode, body: data }));
      });
      req.on('error', reject);
      req.end(body);
    });
  // Per server its own CONCURRENCY lanes (what dav.concurrency allows per server).
  const byServer = new Map();
  spec.jobs.forEach((j, i) => {
    const o = new URL(j.url).origin;
    if (!byServer.has(o)) byServer.set(o, []);
    byServer.get(o).push(i);
  });
  const tokens = phase === 'run' ? readJson(spec.tokens) : new Array(spec.jobs.length);
  let failures = 0;
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  await Promise.all(
    [...byServer.values()].flatMap((list) => {
      let next = 0;
      return Array.from({ length: spec.perServer }, async () => {
        while (next < list.length) {
          const i = list[next++];
          const r = await report(spec.jobs[i], phase === 'run' ? tokens[i] : '');
          if (r.status !== 207) failures++;
          if (phase === 'tokens') tokens[i] = (/<(?:\w+:)?sync-token>([^<]*)</.exec(r.body) ?? [])[1] ?? '';
        }
      });
    }),
  );
  const wall = (performance.now() - t) / 1000;
  const c = process.cpuUsage(cpu0);
  if (phase === 'tokens') writeJson(spec.tokens, tokens);
  for (const a of agents.values()) a.destroy();
  console.log(JSON.stringify({ reports: spec.jobs.length, failures, loopWall: wall, loopCpu: (c.user + c.system) / 1e6 }));
}

async function runFloor(perServer) {
  const jobs = [];
  for (let k = 1; k <= N; k++) for (const c of COLLS) jobs.push({ url: `${servers[serverOf(k)].url}/bench${k}/${c.dir}/`, user: `bench${k}` });
  const file = join(work, `floor-${perServer}.json`);
  writeJson(file, { perServer, jobs, tokens: join(work, 'floor-tokens.json') });
  const me = join(L.ROOT, 'bench', 'capacity.mjs');
  ok(await L.measured(process.execPath, [me, '--floor-child', 'tokens', file]), 'floor tokens');
  const load = loadavg();
  const mark = serverMark();
  const r = ok(await L.measured(process.execPath, [me, '--floor-child', 'run', file]), 'floor');
  const srv = serverSince(mark);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  return { concurrency: perServer * S, perServer, wall: round(out.loopWall, 2), processWall: round(r.wall, 2), cpu: round(r.cpu, 2), loopCpu: round(out.loopCpu, 2), reports: out.reports, failures: out.failures, mailboxesPerSecond: round(N / out.loopWall, 1), serverCpu: srv.cpu, requests: srv.requests, perServerCpu: srv.perServer, load: `${load} → ${loadavg()}` };
}

// ---------------------------------------------------------------------------------------------
async function main() {
  log(`N=${N} mailboxes over S=${S} Radicale, modes ${MODES.join(',')}${BULK ? ' + bulk' : ''}; work dir ${work}; load ${loadavg()}`);
  R.steps.loadAtStart = sh('uptime');
  const doc = makeDoc(N);
  const main = join(work, 'main');
  if (FROM) {
    // A prepared run: the home (SQLite state after the adopting first sync) is copied, the
    // servers start on the prepared storage on the same ports (the state names their URLs).
    const prep = readJson(join(FROM, 'prep.json'));
    if (prep.N !== N || prep.S !== S || (prep.layout ?? 'blocks') !== LAYOUT) throw new Error(`${FROM} was prepared for ${prep.N} mailboxes over ${prep.S} servers, layout ${prep.layout}`);
    R.prepared = { preparedAt: prep.preparedAt, commit: prep.commit, from: FROM };
    for (const k of ['crmImport', 'render', 'fill', 'adopt']) if (prep.steps[k]) R.steps[k] = prep.steps[k];
    cpSync(join(FROM, 'main'), main, { recursive: true });
    // The bulk change writes to the servers: then they run on a copy, the prepared storage stays as it was.
    for (let s = 0; s < S; s++) {
      const dir = BULK ? join(work, `radicale${s}`) : join(FROM, `radicale${s}`);
      if (BULK) cpSync(join(FROM, `radicale${s}`), dir, { recursive: true });
      servers.push({ dir, users: [] });
    }
    for (let k = 1; k <= N; k++) servers[serverOf(k)].users.push([`bench${k}`, L.PASSWORD]);
    for (let s = 0; s < S; s++) Object.assign(servers[s], await L.startRadicaleServer({ dir: servers[s].dir, users: servers[s].users, logFile: join(work, `radicale${s}.log`), port: prep.ports[s] }));
    log(`from ${FROM} (prepared ${prep.preparedAt}); servers ${servers.map((x) => x.url).join(' ')}`);
  } else await prepare(doc, main);
  if (PREPARE) {
    for (const srv of servers) await srv.stop();
    mkdirSync(PREPARE, { recursive: true });
    spawnSync('mv', [main, join(PREPARE, 'main')]);
    for (let s = 0; s < S; s++) spawnSync('mv', [servers[s].dir, join(PREPARE, `radicale${s}`)]);
    servers.length = 0;
    writeJson(join(PREPARE, 'prep.json'), { N, S, layout: LAYOUT, ports: R.steps.ports, preparedAt: new Date().toISOString(), commit: R.machine.commit, steps: { ...R.steps } });
    log(`prepared in ${PREPARE}`);
    return;
  }
  await measure(doc, main);
  R.steps.loadAtEnd = sh('uptime');
}

async function prepare(doc, main) {

  // 1. The CRM: one import of N users, 20N addresses, 3N appointments.
  mkdirSync(main, { mode: 0o700 });
  L.cliSync(main, ['crm', 'init']);
  writeJson(join(main, 'exchange.json'), doc);
  const imp = ok(await L.cli(main, ['crm', 'import', join(main, 'exchange.json')]), 'crm import');
  const importedAt = Date.now();
  R.steps.crmImport = { wall: round(imp.wall, 2), cpu: round(imp.cpu, 2), records: doc.addresses.length + doc.activities.length };
  log('crm import', R.steps.crmImport);

  // One mailbox assigned the ordinary way (the config's and secrets file's shape), then all N.
  L.cliSync(main, ['users', 'assign', 'bench1', '--url', 'http://127.0.0.1:9/', '--username', 'bench1', '--password-env', 'BENCH_PW', '--credential-store', 'file', '--no-verify'], { env: { BENCH_PW: L.PASSWORD } });
  const cfgFile = join(main, 'config.json');
  const template = readJson(cfgFile).mailboxes[0];
  delete template.collections;

  // 2. The items as sync-cli writes them: a first sync into N vdir mailboxes (file://), in two
  // homes at once (2 cores) that share the main home's CRM file.
  const vdirs = join(work, 'vdirs');
  const halves = N >= 200 ? 2 : 1;
  const t2 = Date.now();
  const renders = await Promise.all(
    Array.from({ length: halves }, (_, h) => {
      const home = sideHome(`render${h}`, main, (cfg) => {
        cfg.mailboxes = doc.users.filter((_u, i) => i % halves === h).map((u) => ({ ...template, user: u.id, username: u.login, url: `file://${join(vdirs, u.id)}` }));
      });
      return L.cli(home, ['run', '--once']).then((r) => ok(r, `render ${h}`));
    }),
  );
  R.steps.render = { wall: round((Date.now() - t2) / 1000, 1), cpu: round(renders.reduce((s, r) => s + r.cpu, 0), 2), processes: halves };
  log('rendered into vdirs', R.steps.render);

  // 3. Fill each server's storage on disk (step 2b's layout), start the servers.
  const t3 = Date.now();
  for (let s = 0; s < S; s++) servers.push({ dir: join(work, `radicale${s}`), users: [] });
  for (let k = 1; k <= N; k++) {
    const srv = servers[serverOf(k)];
    srv.users.push([`bench${k}`, L.PASSWORD]);
    for (const c of COLLS) {
      const dir = join(srv.dir, 'collections', 'collection-root', `bench${k}`, c.dir);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, '.Radicale.props'), JSON.stringify(c.props));
      const from = join(vdirs, `u${k}`, c.src);
      if (existsSync(from)) cpSync(from, dir, { recursive: true, filter: (f) => !f.endsWith('displayname') });
    }
  }
  rmSync(vdirs, { recursive: true, force: true });
  for (let h = 0; h < halves; h++) rmSync(join(work, `render${h}`), { recursive: true, force: true });
  R.steps.fill = { wall: round((Date.now() - t3) / 1000, 1), files: N * ITEMS };
  for (let s = 0; s < S; s++) {
    const started = await L.startRadicaleServer({ dir: servers[s].dir, users: servers[s].users, logFile: join(work, `radicale${s}.log`) });
    Object.assign(servers[s], started);
  }
  R.steps.ports = servers.map((x) => x.port);
  log('filled on disk and started', R.steps.fill, servers.map((x) => x.url).join(' '));

  // All N mailboxes (each on its user's server) and their passwords, as `users assign` writes them.
  const cfg = readJson(cfgFile);
  cfg.mailboxes = doc.users.map((u, i) => ({ ...template, user: u.id, username: u.login, url: `${servers[serverOf(i + 1)].url}/` }));
  const webhookPort = await L.freePort();
  cfg.daemon.httpPort = webhookPort;
  writeJson(cfgFile, cfg, 0o600);
  const secretsFile = join(main, 'secrets.json');
  const secrets = readJson(secretsFile);
  for (const u of doc.users) secrets[`mailbox:${u.id}`] = L.PASSWORD;
  writeJson(secretsFile, secrets, 0o600);

  // R6: records changed within crm.overlapSeconds (120 s) of a mailbox's last sync are re-read by
  // the next one; a no-change sweep in practice comes long after the last CRM change, so the
  // first sync starts after that window (as step 2b waits).
  const wait = WAIT ? importedAt + 125_000 - Date.now() : 0;
  if (wait > 0) {
    log(`waiting ${Math.round(wait / 1000)} s for the CRM overlap window to pass`);
    await sleep(wait);
  }

  // 4. The admin's first day: one `run --once` adopts every item by UID.
  {
    const load = loadavg();
    const mark = serverMark();
    // The admin's defaults, or more mailboxes at once (--adopt-concurrency) for a big first day.
    const c = readJson(cfgFile);
    c.sync.mailboxConcurrency = ADOPT_CONCURRENCY;
    writeJson(cfgFile, c, 0o600);
    const r = ok(await L.cli(main, ['run', '--once', '--json']), 'first sync (adopt)');
    c.sync.mailboxConcurrency = CONCURRENCY;
    writeJson(cfgFile, c, 0o600);
    const srv = serverSince(mark);
    const res = JSON.parse(r.stdout).mailboxes;
    const sum = res.reduce((a, m) => ({ created: a.created + m.created, updated: a.updated + m.updated, deleted: a.deleted + m.deleted, errors: a.errors + m.errors.length, failed: a.failed + (m.state === 'success' ? 0 : 1) }), { created: 0, updated: 0, deleted: 0, errors: 0, failed: 0 });
    R.steps.adopt = { mailboxConcurrency: ADOPT_CONCURRENCY, wall: round(r.wall, 2), cpu: round(r.cpu, 2), rssMb: round(r.rssMb, 0), cpuPerMailboxMs: round((r.cpu * 1000) / N, 2), mailboxesPerSecond: round(N / r.wall, 1), serverCpu: srv.cpu, requests: srv.requests, result: sum, load: `${load} → ${loadavg()}` };
    log('first sync (adopt)', R.steps.adopt);
    if (sum.failed) throw new Error(`${sum.failed} mailboxes failed their first sync`);
  }

}

async function measure(doc, main) {
  const cfgFile = join(main, 'config.json');
  const webhookPort = readJson(cfgFile).daemon.httpPort;
  // 5. The servers' floor.
  if (FLOOR) {
    R.steps.floor = [];
    for (const per of S > 1 ? [CONCURRENCY, CONCURRENCY / S] : [CONCURRENCY]) {
      if (!Number.isInteger(per) || per < 1) continue;
      const f = await runFloor(per);
      R.steps.floor.push(f);
      log(`floor c${f.concurrency}`, f);
    }
  }

  const lastMode = MODES[MODES.length - 1];
  let keep; // the last mode's processes, for the bulk sweep
  // 6. The modes.
  R.steps.modes = [];
  let connected = false;
  const secret = crypto.randomBytes(24).toString('hex');
  for (const mode of MODES) {
    if (mode === 'sqlite') {
      if (connected) throw new Error('sqlite must come before the PostgreSQL modes');
      const d = startCli('daemon-sqlite', main, ['daemon'], { SYNC_CLI_WEBHOOK_SECRET: secret });
      await waitForLine(d, /^HTTP endpoint on/, 60_000);
      await waitForLine(d, /^daemon started/, 60_000);
      // Its start-up runs are staggered over 60 s; the webhook `{}` makes every mailbox due now.
      // --daemon-sweeps K: K sweeps in a row (the first with V8's JIT still cold, the later ones
      // as a daemon runs for the rest of its life), one row each.
      for (let sweep = 1; sweep <= DAEMON_SWEEPS; sweep++) {
        const load = loadavg();
        const mark = serverMark();
        const cpu0 = cpuOf(d.pid);
        const since = Date.now();
        await postWebhook(webhookPort, secret, {});
        const st = await waitForSweep([d], since, { timeoutMs: Math.max(300_000, N * 200) });
        const cpu = cpuOf(d.pid) - cpu0;
        const srv = serverSince(mark);
        const wall = (st.last - since) / 1000;
        const m = { mode, ...(DAEMON_SWEEPS > 1 ? { sweep } : {}), processes: 1, wall: round(wall, 2), wallTo: { p50: round((st.p50 - since) / 1000, 2), p90: round((st.p90 - since) / 1000, 2), p99: round((st.p99 - since) / 1000, 2) }, mailboxesPerSecond: round(N / wall, 1), syncs: st.syncs, failed: st.failed, busy: st.busy, requests: srv.requests, requestsTotal: srv.total, clientCpu: round(cpu, 2), clientCpuPerMailboxMs: round((cpu * 1000) / N, 2), pgCpu: null, serverCpu: srv.cpu, perServer: srv.perServer, load: `${load} → ${loadavg()}` };
        R.steps.modes.push(m);
        log(`mode ${mode}${DAEMON_SWEEPS > 1 ? ` sweep ${sweep}` : ''}`, m);
      }
      if (mode === lastMode && BULK) keep = { ps: [d], mode };
      else await stopCli(d);
      continue;
    }
    if (mode === 'once') {
      // One `sync-cli run --once` over all N mailboxes (SQLite state), the whole process measured:
      // its start-up is shared by the N mailboxes, as a power user's cron job shares it.
      if (connected) throw new Error('once must come before the PostgreSQL modes');
      const load = loadavg();
      const mark = serverMark();
      const r = ok(await L.cli(main, ['run', '--once', '--json']), 'run --once sweep');
      const srv = serverSince(mark);
      const res = JSON.parse(r.stdout).mailboxes;
      const failed = res.filter((x) => x.state !== 'success').length;
      const m = { mode, processes: 1, wall: round(r.wall, 2), mailboxesPerSecond: round(N / r.wall, 1), syncs: res.length, failed, busy: 0, requests: srv.requests, requestsTotal: srv.total, clientCpu: round(r.cpu, 2), clientCpuPerMailboxMs: round((r.cpu * 1000) / N, 2), pgCpu: null, serverCpu: srv.cpu, perServer: srv.perServer, load: `${load} → ${loadavg()}` };
      R.steps.modes.push(m);
      log(`mode ${mode}`, m);
      continue;
    }
    // wK: K workers at their default concurrency (sync.mailboxConcurrency); wKcC: `worker --concurrency C`.
    const [, kk, cc] = /^w(\d+)(?:c(\d+))?$/.exec(mode) ?? [];
    const k = Number(kk);
    if (!k) throw new Error(`unknown mode ${mode}`);
    if (!connected) {
      // The state and the assignments move into PostgreSQL, as an admin sets a cluster up.
      if (PG_MODE === 'private') {
        await startPrivatePg();
        R.steps.privatePg = { port: privatePg.port, url: PG_URL };
        log(`private PostgreSQL on port ${privatePg.port} (postmaster ${privatePg.pid})`);
      }
      schemaCreated = true;
      const c = ok(await L.cli(main, ['state', 'connect', 'postgres', '--url', PG_URL, '--schema', schema], { env: clusterEnv }), 'state connect postgres');
      R.steps.stateConnect = { wall: round(c.wall, 2), cpu: round(c.cpu, 2) };
      log('state connect postgres', R.steps.stateConnect);
      connected = true;
    }
    const workers = [];
    for (let i = 0; i < k; i++) {
      const home = existsSync(join(work, `worker${i}`)) ? join(work, `worker${i}`) : sideHome(`worker${i}`, main);
      workers.push(startCli(`${mode}-worker${i}`, home, ['worker', ...(cc ? ['--concurrency', cc] : [])]));
    }
    for (const w of workers) await waitForLine(w, /^worker started/, 60_000);
    const dHome = existsSync(join(work, 'daemon')) ? join(work, 'daemon') : sideHome('daemon', main, (c) => (c.sync.mailboxConcurrency = DAEMON_JOBS));
    const load = loadavg();
    const mark = serverMark();
    const wCpu0 = workers.map((w) => cpuOf(w.pid));
    const d = startCli(`${mode}-daemon`, dHome, ['daemon']);
    const sampler = new PgSampler([d.pid, ...workers.map((w) => w.pid)]);
    const pgAll0 = pgInstanceCpu();
    await sampler.start();
    const lead = await waitForLine(d, /^leading the cluster schedule/, 120_000);
    const dCpu0 = cpuOf(d.pid);
    const dStartCpu = dCpu0;
    const since = lead.ts;
    const all = [d, ...workers];
    const st = await waitForSweep(all, since, { timeoutMs: Math.max(300_000, N * 300) });
    const wCpu = workers.map((w, i) => cpuOf(w.pid) - wCpu0[i]);
    const dCpu = cpuOf(d.pid) - dCpu0;
    const pgs = await sampler.stop();
    pgs.instanceCpu = round(pgInstanceCpu() - pgAll0, 2);
    const srv = serverSince(mark);
    const wall = (st.last - since) / 1000;
    const clientCpu = wCpu.reduce((a, b) => a + b, 0) + dCpu;
    const queue = await queueStats();
    const m = {
      wallTo: { p50: round((st.p50 - since) / 1000, 2), p90: round((st.p90 - since) / 1000, 2), p99: round((st.p99 - since) / 1000, 2) },
      mode, processes: k + 1, workerConcurrency: Number(cc ?? CONCURRENCY), daemonJobs: DAEMON_JOBS, wall: round(wall, 2), fromFirstJob: round((st.last - st.minStart) / 1000, 2), mailboxesPerSecond: round(N / wall, 1), syncs: st.syncs, failed: st.failed, busy: st.busy, jobsBy: st.jobsBy,
      requests: srv.requests, requestsTotal: srv.total, clientCpu: round(clientCpu, 2), clientCpuPerMailboxMs: round((clientCpu * 1000) / N, 2), workerCpu: wCpu.map((c) => round(c, 2)), daemonCpu: round(dCpu, 2), daemonStartCpu: round(dStartCpu, 2),
      pgCpu: pgs.cpu, pgCpuPerMailboxMs: round((pgs.cpu * 1000) / N, 2), pgInstanceCpu: pgs.instanceCpu, pgInstanceCpuPerMailboxMs: round((pgs.instanceCpu * 1000) / N, 2), pg: pgs, queue, serverCpu: srv.cpu, perServer: srv.perServer, load: `${load} → ${loadavg()}`,
    };
    R.steps.modes.push(m);
    log(`mode ${mode}`, m);
    if (mode === lastMode && BULK) keep = { ps: all, mode };
    else for (const p of all) await stopCli(p);
  }

  // 7. A bulk CRM change of every record, then the first sweep (the last mode's processes).
  if (BULK && keep) {
    const bulk = { users: doc.users, addresses: doc.addresses.map((a) => ({ ...a, city: `${a.city} Nord` })), activities: doc.activities.map((a) => ({ ...a, note: `${a.note} (verlegt)` })) };
    writeJson(join(main, 'bulk.json'), bulk);
    const load = loadavg();
    const mark = serverMark();
    const cpu0 = keep.ps.map((p) => cpuOf(p.pid));
    const sampler = connected ? new PgSampler(keep.ps.map((p) => p.pid)) : undefined;
    const pgAll0 = pgInstanceCpu();
    await sampler?.start();
    const since = Date.now();
    const imp2 = ok(await L.cli(main, ['crm', 'import', join(main, 'bulk.json')]), 'bulk crm import');
    const importDone = Date.now();
    log(`bulk import done in ${round(imp2.wall, 1)} s; waiting for the sweep`);
    const st = await waitForSweep(keep.ps, since, { needUpdated: ITEMS, timeoutMs: Math.max(600_000, N * 2000) });
    const cpu = keep.ps.reduce((s, p, i) => s + cpuOf(p.pid) - cpu0[i], 0);
    const pgs = await sampler?.stop();
    const srv = serverSince(mark);
    const wall = (st.last - importDone) / 1000;
    R.steps.bulk = {
      wallTo: { p50: round((st.p50 - importDone) / 1000, 2), p90: round((st.p90 - importDone) / 1000, 2), p99: round((st.p99 - importDone) / 1000, 2) },
      mode: keep.mode, importWall: round(imp2.wall, 2), importCpu: round(imp2.cpu, 2), wallAfterImport: round(wall, 2), wallFromImportStart: round((st.last - since) / 1000, 2), mailboxesPerSecond: round(N / wall, 2), itemsUpdated: st.updated, syncs: st.syncs, failed: st.failed,
      requests: srv.requests, requestsTotal: srv.total, clientCpu: round(cpu, 2), clientCpuPerMailboxMs: round((cpu * 1000) / N, 2), clientCpuPerItemMs: round((cpu * 1000) / (N * ITEMS), 3), pgCpu: pgs?.cpu ?? null, pgInstanceCpu: round(pgInstanceCpu() - pgAll0, 2), serverCpu: srv.cpu, perServer: srv.perServer, load: `${load} → ${loadavg()}`,
    };
    log('bulk', R.steps.bulk);
    for (const p of keep.ps) await stopCli(p);
  }
}

async function queueStats() {
  const c = new pg.Client(PG_URL);
  await c.connect();
  try {
    const { rows } = await c.query(`SELECT state, count(*)::int AS n FROM "${schema}_queue".job GROUP BY 1`);
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  } catch (err) {
    return { error: err.message };
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------------------------------------
function markdown() {
  const m = R.machine;
  const out = [`# Capacity: ${N} mailboxes over ${S} Radicale (${R.startedAt}, ${R.totalSeconds} s)`, ''];
  out.push(`Machine: ${m.nproc} cores (${m.cpu}), ${m.memGb} GB, Node ${m.node}, Radicale ${m.radicale}, PostgreSQL ${m.postgres}, commit ${m.commit}. Load at start: ${R.steps.loadAtStart}; at end: ${R.steps.loadAtEnd ?? '—'}`, '');
  const s = R.steps;
  if (s.crmImport) out.push(`CRM import ${s.crmImport.records} records: ${s.crmImport.wall} s wall, ${s.crmImport.cpu} s CPU. Items rendered by sync-cli into vdirs: ${s.render?.wall} s (${s.render?.processes} processes, ${s.render?.cpu} s CPU). Filled on disk: ${s.fill?.files} items in ${s.fill?.wall} s.`, '');
  if (R.prepared) out.push(`Prepared (import, fill, first sync) by \`--prepare\` at ${R.prepared.preparedAt}, commit ${R.prepared.commit}; the sweeps below ran from it.`, '');
  if (s.adopt) out.push(`First sync, ${s.adopt.mailboxConcurrency ?? CONCURRENCY} mailboxes at once (adopts every item, \`run --once\`, SQLite state): ${s.adopt.wall} s wall, ${s.adopt.mailboxesPerSecond} mailboxes/s, ${s.adopt.cpu} s CPU (${s.adopt.cpuPerMailboxMs} ms/mailbox), peak RSS ${s.adopt.rssMb} MB, server CPU ${s.adopt.serverCpu} s, requests ${JSON.stringify(s.adopt.requests)}, result ${JSON.stringify(s.adopt.result)}; load ${s.adopt.load}.`, '');
  if (s.stateConnect) out.push(`\`state connect postgres\` (moves the state of ${N} mailboxes): ${s.stateConnect.wall} s wall, ${s.stateConnect.cpu} s CPU.`, '');
  out.push('| mode | N | servers | processes | wall s | mailboxes/s | requests | client CPU s | client CPU ms/mailbox | PG CPU ms/mailbox | server CPU s | load (1/5/15 min) |', '|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const f of s.floor ?? []) out.push(`| floor: bare REPORT loop, c${f.concurrency} (${f.perServer}/server) | ${N} | ${S} | 1 | ${f.wall} | ${f.mailboxesPerSecond} | ${JSON.stringify(f.requests)} | ${f.cpu} (loop ${f.loopCpu}) | ${round((f.cpu * 1000) / N, 2)} | — | ${f.serverCpu} | ${f.load} |`);
  for (const x of s.modes ?? []) out.push(`| ${x.mode === 'sqlite' ? `sqlite: daemon, SQLite state${x.sweep ? `, sweep ${x.sweep}` : ''}` : x.mode === 'once' ? 'once: `run --once`, SQLite state (whole process)' : `${x.mode}: daemon + ${x.processes - 1} worker(s), PostgreSQL`} | ${N} | ${S} | ${x.processes} | ${x.wall} | ${x.mailboxesPerSecond} | ${JSON.stringify(x.requests)} | ${x.clientCpu} | ${x.clientCpuPerMailboxMs} | ${x.pgInstanceCpuPerMailboxMs ?? x.pgCpuPerMailboxMs ?? '—'} | ${x.serverCpu} | ${x.load} |`);
  if (s.bulk) out.push(`| bulk: first sweep after a change of all ${N * ITEMS} records (${s.bulk.mode}) | ${N} | ${S} | — | ${s.bulk.wallAfterImport} | ${s.bulk.mailboxesPerSecond} | ${JSON.stringify(s.bulk.requests)} | ${s.bulk.clientCpu} | ${s.bulk.clientCpuPerMailboxMs} | ${s.bulk.pgCpu === null ? '—' : round((s.bulk.pgCpu * 1000) / N, 2)} | ${s.bulk.serverCpu} | ${s.bulk.load} |`);
  out.push('');
  for (const x of s.modes ?? []) {
    if (x.mode === 'sqlite' || x.mode === 'once') continue;
    out.push(`- ${x.mode}: jobs per process ${JSON.stringify(x.jobsBy)}, syncs ${x.syncs} (busy ${x.busy}, failed ${x.failed}), from the first job ${x.fromFirstJob} s; worker CPU ${JSON.stringify(x.workerCpu)} s, daemon ${x.daemonCpu} s (+${x.daemonStartCpu} s start-up, not counted); PG backends ${x.pg.backends}, peak sessions ${x.pg.peakSessions} (per process ${JSON.stringify(x.pg.peakPerProcess)}; per component, max of one process ${JSON.stringify(x.pg.peakPerComponentOfOneProcess)}); PG CPU ${x.pgCpu} s (the sessions' backends), ${x.pgInstanceCpu ?? '—'} s (the whole private instance, in the table); queue ${JSON.stringify(x.queue)}; per server ${JSON.stringify(x.perServer)}`);
  }
  if (s.bulk) out.push(`- bulk: import ${s.bulk.importWall} s (${s.bulk.importCpu} s CPU), sweep ${s.bulk.wallAfterImport} s after it (${s.bulk.wallFromImportStart} s from its start), items updated ${s.bulk.itemsUpdated}, syncs ${s.bulk.syncs} (failed ${s.bulk.failed}), client CPU ${s.bulk.clientCpuPerItemMs} ms per item, PG CPU ${s.bulk.pgCpu ?? '—'} s, per server ${JSON.stringify(s.bulk.perServer)}`);
  return out.join('\n');
}

let failed;
try {
  await main();
} catch (err) {
  failed = err;
  console.error(err);
} finally {
  await cleanup();
  R.totalSeconds = Math.round((Date.now() - t0) / 1000);
  if (failed) R.error = String(failed.stack ?? failed);
  const outDir = join(L.ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeJson(join(outDir, `capacity-${LABEL}.json`), R);
  const md = markdown();
  writeFileSync(join(outDir, `capacity-${LABEL}.md`), md);
  console.log(md);
  process.exit(failed ? 1 : 0);
}
