// Shared pieces of the benchmark: a deterministic CRM exchange file, Radicale/Xandikos on free
// loopback ports, a counting HTTP proxy, and child runs measured with /usr/bin/time -v
// (wall, user+sys CPU, peak RSS of the child). Plain Node ESM, no test framework: the bench is
// never part of `npm test`.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prng } from '../dist/providers/crm/demo.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(ROOT, 'bin', 'sync-cli');
export const LOGIN = 'bench';
export const PASSWORD = 'bench-pass';

// ---------------------------------------------------------------------------------------------
// Deterministic data: the demo CRM's seeded PRNG (built into dist/ by `npm run build`), so every
// run uploads the same bytes.
const FIRST = ['Anna', 'Ben', 'Clara', 'David', 'Eva', 'Felix', 'Greta', 'Hans', 'Ida', 'Jonas', 'Karin', 'Lukas', 'Marie', 'Niklas', 'Olga', 'Paul'];
const LAST = ['Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Meyer', 'Wagner', 'Becker', 'Schulz', 'Hoffmann', 'Koch', 'Richter'];
const CITY = [['80331', 'München'], ['10115', 'Berlin'], ['20095', 'Hamburg'], ['50667', 'Köln'], ['60311', 'Frankfurt am Main']];
const STREET = ['Hauptstraße', 'Bahnhofstraße', 'Gartenweg', 'Lindenallee', 'Schulstraße'];

/**
 * One CRM user (login `bench`, tag BM) with `addresses` tagged addresses and `appointments`
 * future appointments (inside the past window, so all are sent). Same input → same file.
 */
export function exchangeDoc({ addresses, appointments }) {
  const rnd = prng(42);
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const users = [
    { id: 'u1', login: LOGIN, name: 'Bench User', email: 'bench@example.de', userTag: 'BM', addressTags: ['BM'], activityTags: ['BM'], importAppointmentType: 'Termin', importTaskType: 'Aufgabe' },
  ];
  const addr = [];
  for (let i = 1; i <= addresses; i++) {
    const [zip, city] = pick(CITY);
    const first = pick(FIRST);
    const last = pick(LAST);
    addr.push({
      id: `a${i}`, company: `${last} ${pick(['GmbH', 'KG', 'AG', 'e.K.'])} ${i}`, salutation: pick(['Frau', 'Herr']), title: '',
      firstName: first, lastName: last, street: `${pick(STREET)} ${1 + Math.floor(rnd() * 120)}`, postalCode: zip, city, country: 'Deutschland',
      fax: '', email: `${first}.${last}.${i}@example.de`.toLowerCase(), note: `Kunde Nr. ${i}`,
      phones: [{ number: `+49 89 ${100000 + i}`, remark: 'Zentrale' }, { number: `+49 170 ${5000000 + i}`, remark: '' }],
      private: false, owner: 'u1', tags: ['BM'], deleted: false,
    });
  }
  const act = [];
  const base = Date.UTC(2027, 0, 4, 8, 0, 0); // future: inside every past window
  for (let i = 1; i <= appointments; i++) {
    const start = new Date(base + i * 3 * 3600_000);
    const end = new Date(start.getTime() + 3600_000);
    act.push({
      id: `t${i}`, kind: 'appointment', type: 'Termin extern', subject: `Besichtigung ${pick(STREET)} ${i}`,
      start: start.toISOString(), end: end.toISOString(), allDay: false, timeZone: 'Europe/Berlin', alarmMinutes: 15,
      note: `Termin ${i}`, done: false, private: false, owner: 'u1', participants: ['u1'],
      addresses: addresses ? [`a${1 + (i % addresses)}`] : [], tags: ['BM'], deleted: false,
    });
  }
  return { users, addresses: addr, activities: act };
}

// ---------------------------------------------------------------------------------------------
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = srv.address().port;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitUntilAnswering(url, child, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode})`);
    try {
      const res = await fetch(url, { method: 'OPTIONS', signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not answer`);
}

const children = new Set();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Radicale 3 as in test/helpers/servers.ts: htpasswd (plain), owner_only. `dir` may be reused. */
export async function startRadicale({ dir, port } = {}) {
  const dataDir = dir ?? mkdtempSync(join(tmpdir(), 'bench-radicale-'));
  mkdirSync(dataDir, { recursive: true });
  port ??= await freePort();
  writeFileSync(join(dataDir, 'users'), [LOGIN, 'vdir', 'floor'].map((u) => `${u}:${PASSWORD}`).join('\n') + '\n');
  writeFileSync(
    join(dataDir, 'config'),
    ['[server]', `hosts = 127.0.0.1:${port}`, '[auth]', 'type = htpasswd', `htpasswd_filename = ${join(dataDir, 'users')}`,
      'htpasswd_encryption = plain', 'delay = 0', '[rights]', 'type = owner_only', '[storage]',
      `filesystem_folder = ${join(dataDir, 'collections')}`, '[logging]', 'level = warning', ''].join('\n'),
  );
  const child = spawn('radicale', ['--config', join(dataDir, 'config')], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  const url = `http://127.0.0.1:${port}`;
  await waitUntilAnswering(url, child);
  return {
    url, port, dataDir, pid: child.pid,
    collections: join(dataDir, 'collections', 'collection-root'),
    async stop({ keep = false } = {}) {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      children.delete(child);
      if (!keep) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Xandikos (no auth, one principal /user/). */
export async function startXandikos() {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-xandikos-'));
  const port = await freePort();
  const child = spawn('xandikos', ['--defaults', '-d', join(dataDir, 'store'), '-l', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  const url = `http://127.0.0.1:${port}`;
  await waitUntilAnswering(url, child);
  return {
    url, port, dataDir, pid: child.pid,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      children.delete(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** CPU seconds (user+sys) of a process so far, from /proc (for the server's share). */
export function procCpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------------------------------------
/**
 * A tiny forward proxy in front of a server: counts requests by method (and keeps the list) so
 * a run's request count is what went over the wire. Clients use the proxy's URL as server URL.
 */
export async function startCountingProxy(target) {
  const t = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let log = [];
  const server = http.createServer((req, res) => {
    const entry = { line: `${req.method} ${req.url}`, started: process.hrtime.bigint(), ms: NaN };
    log.push(entry);
    res.on('finish', () => (entry.ms = Number(process.hrtime.bigint() - entry.started) / 1e6));
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host }, agent }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 30_000;
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    reset() { log = []; },
    /** "METHOD path" per request, in arrival order. */
    requests() { return log.map((e) => e.line); },
    /** "METHOD path (N ms)": how long the server (through the proxy) took for each. */
    timedRequests() { return log.map((e) => `${e.line} (${Math.round(e.ms)} ms)`); },
    byMethod() {
      const m = {};
      for (const e of log) { const k = e.line.split(' ')[0]; m[k] = (m[k] ?? 0) + 1; }
      return m;
    },
    async stop() {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
      agent.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------
/**
 * Runs a command under /usr/bin/time -v; returns wall seconds, user+sys CPU seconds and peak
 * RSS (MB) of the command (including its waited-for children), exit code, stdout, stderr.
 */
export async function measured(cmd, args, { env, cwd, input } = {}) {
  const started = process.hrtime.bigint();
  const child = spawn('/usr/bin/time', ['-v', cmd, ...args], { env: { ...process.env, ...env }, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  if (input) child.stdin.end(input);
  else child.stdin.end();
  const code = await new Promise((r) => child.on('close', r));
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const num = (re) => Number((err.match(re) ?? [])[1]);
  const user = num(/User time \(seconds\): ([\d.]+)/);
  const sys = num(/System time \(seconds\): ([\d.]+)/);
  const rssKb = num(/Maximum resident set size \(kbytes\): (\d+)/);
  const exit = num(/Exit status: (\d+)/);
  const stderr = err.replace(/\n?\tCommand being timed:[\s\S]*$/, '');
  return { wall, cpu: user + sys, user, sys, rssMb: rssKb / 1024, code: Number.isNaN(exit) ? code : exit, stdout: out, stderr };
}

/** sync-cli with a home folder, measured. */
export function cli(home, args, opts = {}) {
  return measured(process.execPath, [...(opts.nodeArgs ?? []), CLI, '--home', home, ...args], opts);
}

/** sync-cli, not measured; throws on a non-zero exit. */
export function cliSync(home, args, { env, input } = {}) {
  const r = spawnSync(process.execPath, [CLI, '--home', home, ...args], { env: { ...process.env, ...env }, input, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`sync-cli ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A fresh sync-cli home with the embedded CRM holding the generated exchange file. */
export function crmHome(doc, name = 'home') {
  const home = mkdtempSync(join(tmpdir(), `bench-${name}-`));
  cliSync(home, ['crm', 'init']);
  const file = join(home, 'exchange.json');
  writeFileSync(file, JSON.stringify(doc));
  cliSync(home, ['crm', 'import', file]);
  return home;
}

/** Assigns the bench user's mailbox (URL may be http://… or file:///…). */
export function assign(home, url, username = LOGIN) {
  // `users assign` takes http(s) only; a vdir mailbox is a file:// URL written into config.json.
  const viaConfig = url.startsWith('file:');
  const assignUrl = viaConfig ? 'http://127.0.0.1:9/' : url;
  cliSync(home, ['users', 'assign', LOGIN, '--url', assignUrl, '--username', username, '--password-env', 'BENCH_PW', '--credential-store', 'file', '--no-verify'], { env: { BENCH_PW: PASSWORD } });
  if (viaConfig) {
    const file = join(home, 'config.json');
    const config = JSON.parse(readFileSync(file, 'utf8'));
    for (const m of config.mailboxes) {
      m.url = url;
      delete m.collections;
    }
    writeFileSync(file, JSON.stringify(config, null, 2));
  }
}

/** hyperfine --export-json; returns { mean, stddev, min, max, runs } in seconds. */
// Async on purpose: the counting proxy lives in this process and must keep answering.
export async function hyperfine(name, command, { runs = 5, warmup = 1 } = {}) {
  const json = join(mkdtempSync(join(tmpdir(), 'bench-hf-')), 'out.json');
  const r = await measured('hyperfine', ['--style', 'basic', '-N', '--warmup', String(warmup), '--runs', String(runs), '--export-json', json, '-n', name, command]);
  if (r.code !== 0) throw new Error(`hyperfine ${name} failed:\n${r.stdout}\n${r.stderr}`);
  const res = JSON.parse(readFileSync(json, 'utf8')).results[0];
  return { name, mean: res.mean, stddev: res.stddev, min: res.min, max: res.max, runs: res.times.length, user: res.user, system: res.system };
}

// ---------------------------------------------------------------------------------------------
/**
 * Radicale 3 for many users (bench/capacity.mjs): `users` is a list of [login, password]
 * written as a plain htpasswd file (the same scheme as startRadicale: the file is scanned on every
 * request, a string compare per line, no hashing), owner_only rights. `logFile` receives the
 * server's log (level `info` logs one line per request, so requests can be counted on the
 * server's side without a proxy in the path). `dir` may be filled beforehand (collections on disk).
 */
export async function startRadicaleServer({ dir, users, logFile, level = 'info', port } = {}) {
  mkdirSync(dir, { recursive: true });
  port ??= await freePort();
  writeFileSync(join(dir, 'users'), users.map(([u, p]) => `${u}:${p}`).join('\n') + '\n');
  writeFileSync(
    join(dir, 'config'),
    ['[server]', `hosts = 127.0.0.1:${port}`, '[auth]', 'type = htpasswd', `htpasswd_filename = ${join(dir, 'users')}`,
      'htpasswd_encryption = plain', 'delay = 0', '[rights]', 'type = owner_only', '[storage]',
      `filesystem_folder = ${join(dir, 'collections')}`, '[logging]', `level = ${level}`, ''].join('\n'),
  );
  const fd = openSync(logFile ?? '/dev/null', 'a');
  const child = spawn('radicale', ['--config', join(dir, 'config')], { stdio: ['ignore', 'ignore', fd] });
  closeSync(fd);
  children.add(child);
  const url = `http://127.0.0.1:${port}`;
  await waitUntilAnswering(url, child);
  return {
    url, port, dir, pid: child.pid, logFile,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      children.delete(child);
    },
  };
}
