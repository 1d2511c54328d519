// Issue #16: client CPU per no-change mailbox. N CRM users, each with 2–5 tagged addresses and one
// appointment, N mailboxes (one Radicale login each) on ONE local Radicale started here on a free
// loopback port. After a first sync (and a settling run) nothing changes; once the CRM's
// re-read window (crm.overlapSeconds) has passed, the feeds are empty (steady state); then, median of 3:
//   (a) `run --once` (SQLite state): (CPU of the sweep over all N − CPU of `run --once --user`
//       of one mailbox) / (N − 1): process start and the per-run constant cancel out;
//   (b) the daemon (SQLite state): the CPU of its pid (/proc/PID/stat) over a window of one
//       interval (each mailbox syncs once in it) over the syncs its log shows in that window;
//   (c) the cluster: the state moved to PostgreSQL (`state connect postgres`, a schema of its
//       own, dropped after), one daemon (the leader) + one worker on the same home; the CPU of
//       both pids over one interval / the syncs both logged in it. Cluster overhead = (c) − (b).
//       PostgreSQL's own CPU: the backends whose application_name names these pids, summed from
//       /proc (approximate: a backend that ended within the window is missed; reported apart).
//   (w) warm: bench/warm-sweep-child.mjs runs --warm K no-change sweeps inside ONE process (the
//       engine of each build, imported from its dist/), CPU per mailbox of each, median of the
//       second half; then the same REPORTs from a bare http.request loop, warm too: the floor (and the
//       one PROPFIND per mailbox that a no-change sync sends since D100: the floor of that).
//   (s) spaced: the warm engine again, one mailbox at a time with --gaps G ms of idle between two
//       syncs (4 sweeps, median of the second half): the same work as (w) at concurrency 1, only the
//       idle between syncs differs — what a daemon's sleeping between wake-ups costs each sync;
//       and the one-PROPFIND floor spaced the same way.
// Wall times and the interval are printed too; the machine is shared, so read medians.
//   npm run build && node bench/mailbox-cpu.mjs [--mailboxes 200] [--interval 20] [--sweeps 3] [--only a,b,c,w,s] [--warm 12] [--gaps 0,20,100] [--abba] [--profile]
//        [--cli /path/to/other/checkout/bin/sync-cli,…]   (each measured in turn with this one)
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import * as L from './lib.mjs';
import { byPackage, topFunctions } from './cpuprofile-top.mjs';
import { parseConfig, saveConfig } from '../dist/config/load.js';
import { resolvePaths } from '../dist/config/paths.js';
import { storeMailboxPassword } from '../dist/secrets/index.js';

const { values } = parseArgs({
  options: {
    mailboxes: { type: 'string', default: '200' },
    interval: { type: 'string', default: '20' },
    sweeps: { type: 'string', default: '3' },
    only: { type: 'string', default: 'a,b,c' },
    // (w): sweeps inside one process per build (start and JIT warm-up out of the numbers).
    warm: { type: 'string', default: '12' },
    profile: { type: 'boolean', default: false },
    // Builds measured A B … then … B A (a: the order turns every sweep; b, c: each build twice),
    // medians over both: the build measured first is dearer by itself (bench/README.md, 2026-12-02).
    abba: { type: 'boolean', default: false },
    // (s): the idle gaps between two syncs, ms.
    gaps: { type: 'string', default: '0,20,100' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    // Other builds' bin/sync-cli to measure in turn with this one (before/after on a shared machine).
    cli: { type: 'string', default: '' },
    // crm.overlapSeconds of the bench's config (the bench waits it out before measuring); default as shipped.
    'overlap-seconds': { type: 'string', default: '120' },
  },
});
const N = Number(values.mailboxes);
const INTERVAL = Number(values.interval);
const SWEEPS = Number(values.sweeps);
const WARM = Number(values.warm);
const ONLY = new Set(values.only.split(','));
const PG_URL = values['pg-url'];
const CLIS = [L.CLI, ...values.cli.split(',').filter(Boolean)];
const label = (cli) => cli.replace(/\/bin\/sync-cli$/, '');
const log = (...a) => process.stderr.write(a.join(' ') + '\n');
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const ok = (r, what) => {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr.slice(0, 3000)}`);
  return r;
};

// --- Radicale: one login per mailbox ---
const root = mkdtempSync(join(tmpdir(), 'bench-mailbox-cpu-'));
const radDir = join(root, 'radicale');
mkdirSync(radDir);
const logins = Array.from({ length: N }, (_, i) => `mb${i + 1}`);
const radPort = await L.freePort();
writeFileSync(join(radDir, 'users'), logins.map((u) => `${u}:${L.PASSWORD}`).join('\n') + '\n');
writeFileSync(join(radDir, 'config'), ['[server]', `hosts = 127.0.0.1:${radPort}`, '[auth]', 'type = htpasswd', `htpasswd_filename = ${join(radDir, 'users')}`, 'htpasswd_encryption = plain', 'delay = 0', '[rights]', 'type = owner_only', '[storage]', `filesystem_folder = ${join(radDir, 'collections')}`, '[logging]', 'level = warning', ''].join('\n'));
const radicale = spawn('radicale', ['--config', join(radDir, 'config')], { stdio: ['ignore', 'ignore', 'inherit'] });
const children = new Set([radicale]);
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));
const radUrl = `http://127.0.0.1:${radPort}`;
await L.waitUntilAnswering(radUrl, radicale);

// --- CRM: user i has 2–5 addresses and one appointment, all tagged with its own tag ---
function docFor(n) {
  const base = L.exchangeDoc({ addresses: 5, appointments: 1 });
  const users = [];
  const addresses = [];
  const activities = [];
  for (let u = 1; u <= n; u++) {
    const id = `u${u}`;
    const tag = `T${u}`;
    users.push({ ...base.users[0], id, login: logins[u - 1], email: `${logins[u - 1]}@example.de`, userTag: tag, addressTags: [tag], activityTags: [tag] });
    const count = 2 + (u % 4);
    for (let k = 0; k < count; k++) addresses.push({ ...base.addresses[k], id: `a${u}-${k}`, company: `${base.addresses[k].company} ${u}`, email: `k${k}.u${u}@example.de`, owner: id, tags: [tag] });
    activities.push({ ...base.activities[0], id: `t${u}`, owner: id, participants: [id], addresses: [`a${u}-0`], tags: [tag] });
  }
  return { users, addresses, activities };
}
const home = L.crmHome(docFor(N), 'mailbox-cpu');
const importedAt = Date.now();
const paths = resolvePaths(home);
const raw = existsSync(paths.configFile) ? JSON.parse(readFileSync(paths.configFile, 'utf8')) : {};
raw.daemon = { ...raw.daemon, intervalSeconds: INTERVAL };
raw.crm = { ...raw.crm, overlapSeconds: Number(values['overlap-seconds']) };
raw.mailboxes = logins.map((login, i) => ({ user: `u${i + 1}`, url: `${radUrl}/`, username: login, credentialStore: 'file' }));
const config = parseConfig(raw, 'bench config');
saveConfig(paths.configFile, config);
for (const m of config.mailboxes) await storeMailboxPassword(m, L.PASSWORD, paths);

const sumOf = (r) => JSON.parse(r.stdout).mailboxes.reduce((s, x) => ({ created: s.created + x.created, updated: s.updated + x.updated, failed: s.failed + (x.state === 'success' ? 0 : 1) }), { created: 0, updated: 0, failed: 0 });
const results = { mailboxes: N, intervalSeconds: INTERVAL, node: process.version };

/** A sync-cli process whose finished syncs ("synced …" log lines) are counted as they stream in. */
function startCli(cli, args, env = {}, nodeArgs = []) {
  const child = spawn(process.execPath, [...nodeArgs, cli, '--home', home, '--log-format', 'json', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
  children.add(child);
  // doneAt: when each finished sync's line arrived (to count the bursts a window's syncs came in).
  const p = { child, synced: 0, failed: 0, tail: '', buf: '', doneAt: [] };
  child.stderr.on('data', (d) => {
    p.buf += d.toString();
    const lines = p.buf.split('\n');
    p.buf = lines.pop();
    for (const l of lines) {
      p.tail = (p.tail + l + '\n').slice(-4000);
      const isSynced = l.includes('"message":"synced ');
      if (!isSynced && !l.includes('"message":"sync of ')) continue;
      if (isSynced) p.synced++;
      else p.failed++;
      p.doneAt.push(Date.now());
    }
  });
  return p;
}
async function stopCli(p) {
  if (p.child.exitCode === null) {
    const exited = new Promise((r) => p.child.once('exit', r));
    p.child.kill('SIGTERM');
    await exited;
  }
  children.delete(p.child);
}
async function until(what, fn, ms) {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** PostgreSQL backends serving these client pids (application_name carries the pid). */
async function backendCpu(admin, pids) {
  const { rows } = await admin.query(`SELECT pid, application_name FROM pg_stat_activity WHERE application_name LIKE 'sync-cli%'`);
  const mine = rows.filter((r) => pids.some((p) => new RegExp(`\\b${p}\\b`).test(r.application_name)));
  return new Map(mine.map((r) => [r.pid, L.procCpuSeconds(r.pid)]));
}
const pgDelta = (a, b) => [...b].reduce((s, [pid, cpu]) => s + (cpu - (a.get(pid) ?? cpu)), 0);

/**
 * CPU of `procs` per sync over SWEEPS windows of one interval each (every mailbox syncs once per
 * interval): the CPU they used in the window over the syncs they logged in it.
 */
async function cycles(procs, admin) {
  const done = () => procs.reduce((s, p) => s + p.synced + p.failed, 0);
  const cpu = () => procs.reduce((s, p) => s + L.procCpuSeconds(p.child.pid), 0);
  // The start sweep (staggered), then one more cycle to settle (JIT, pools), then measure.
  await until('the first sweep', () => done() >= 2 * N, (INTERVAL * 3 + 120) * 1000);
  const out = [];
  for (let k = 0; k < SWEEPS; k++) {
    const base = done();
    const c0 = cpu();
    const b0 = admin ? await backendCpu(admin, procs.map((p) => p.child.pid)) : null;
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, INTERVAL * 1000));
    const c1 = cpu();
    const b1 = admin ? await backendCpu(admin, procs.map((p) => p.child.pid)) : null;
    const syncs = done() - base;
    const failed = procs.reduce((s, p) => s + p.failed, 0);
    // Bursts: the window's finished syncs in groups, a new group after 200 ms without one.
    const at = procs.flatMap((p) => p.doneAt.filter((t) => t >= t0)).sort((x, y) => x - y);
    const bursts = at.filter((t, i) => i === 0 || t - at[i - 1] > 200).length;
    out.push({ msPerMailbox: ((c1 - c0) * 1000) / syncs, pgMsPerMailbox: admin ? (pgDelta(b0, b1) * 1000) / syncs : undefined, syncs, bursts, wallS: (Date.now() - t0) / 1000, failed });
    log(`  window ${k + 1}: ${syncs} syncs in ${bursts} bursts, ${out.at(-1).msPerMailbox.toFixed(2)} ms CPU per sync${admin ? `, PostgreSQL ${out.at(-1).pgMsPerMailbox.toFixed(2)} ms` : ''} (${out.at(-1).wallS.toFixed(1)} s, failed so far ${failed})`);
  }
  return { msPerMailbox: +median(out.map((o) => o.msPerMailbox)).toFixed(3), ...(admin ? { pgMsPerMailbox: +median(out.map((o) => o.pgMsPerMailbox)).toFixed(3) } : {}), windows: out };
}

let admin;
const schema = `bench_cost_${process.pid}`;
try {
  log(`first sync of ${N} mailboxes on Radicale ${radUrl}`);
  const first = ok(await L.cli(home, ['run', '--once', '--json']), 'first sync');
  results.firstSync = { wallS: +first.wall.toFixed(1), cpuS: +first.cpu.toFixed(2), ...sumOf(first) };
  log(`  ${JSON.stringify(results.firstSync)}`);
  ok(await L.cli(home, ['run', '--once']), 'settling run');
  // A no-change mailbox in steady state: past the CRM's re-read window (crm.overlapSeconds, R6),
  // the feeds are empty. Inside it every sync re-reads the records imported just now.
  const quietAt = importedAt + (config.crm.overlapSeconds + 5) * 1000;
  log(`waiting ${Math.max(0, Math.round((quietAt - Date.now()) / 1000))} s for the CRM's overlap window to pass`);
  await new Promise((r) => setTimeout(r, Math.max(0, quietAt - Date.now())));
  ok(await L.cli(home, ['run', '--once']), 'settling run past the overlap');

  if (ONLY.has('a')) {
    log('(a) run --once, no change');
    const sweeps = new Map(CLIS.map((c) => [c, []]));
    const run = (cli, args) => L.measured(process.execPath, [cli, '--home', home, ...args]);
    for (let k = 0; k < SWEEPS; k++) {
      for (const cli of values.abba && k % 2 ? [...CLIS].reverse() : CLIS) {
        const one = ok(await run(cli, ['run', '--once', '--user', logins[0]]), 'run --once --user');
        const all = ok(await run(cli, ['run', '--once', '--json']), 'run --once');
        const s = sumOf(all);
        if (s.created || s.updated || s.failed) throw new Error(`the no-change sweep changed something: ${JSON.stringify(s)}`);
        sweeps.get(cli).push({ msPerMailbox: ((all.cpu - one.cpu) * 1000) / (N - 1), sweepCpuS: all.cpu, oneCpuS: one.cpu, sweepWallS: all.wall });
        log(`  ${label(cli)}: ${JSON.stringify(sweeps.get(cli).at(-1))}`);
      }
    }
    if (values.profile) {
      // One more sweep under the V8 profiler: where a no-change mailbox's CPU goes.
      const dir = join(root, 'profile');
      ok(await L.cli(home, ['run', '--once', '--json'], { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] }), 'profiled run --once');
      const file = join(dir, readdirSync(dir)[0]);
      for (const t of topFunctions(file, 40)) log(`${String(t.selfMs).padStart(7)} ms ${String(t.pct).padStart(5)} %  ${t.name}  ${t.where}`);
      for (const t of byPackage(file, 25)) log(`${String(t.selfMs).padStart(7)} ms ${String(t.pct).padStart(5)} %  ${t.group}`);
      copyFileSync(file, join(tmpdir(), `mailbox-cpu-${process.pid}.cpuprofile`));
      log(`profile kept in ${join(tmpdir(), `mailbox-cpu-${process.pid}.cpuprofile`)}`);
    }
    for (const cli of CLIS) (results[label(cli)] ??= {}).runOnce = { msPerMailbox: +median(sweeps.get(cli).map((s) => s.msPerMailbox)).toFixed(3), sweeps: sweeps.get(cli) };
  }

  if (ONLY.has('w')) {
    // (w) warm, inside one process: the engine's sweeps and the bare REPORT loop's, in turn.
    log(`(w) ${WARM} no-change sweeps inside one process (median of the second half), and the bare REPORT loop`);
    // --profile: the engine's sweeps under the V8 profiler too (to set beside the daemon's).
    const warmProf = (mode, cli) => (values.profile && mode === 'sync' ? ['--cpu-prof', '--cpu-prof-dir', join(root, `profile-warm-${CLIS.indexOf(cli)}`)] : []);
    const child = (mode, cli) => L.measured(process.execPath, [...warmProf(mode, cli), join(L.ROOT, 'bench', 'warm-sweep-child.mjs'), mode, cli.replace(/\/bin\/sync-cli$/, ''), home, String(WARM)], { env: { BENCH_PASSWORD: L.PASSWORD } });
    // The floors do not depend on the build: the three REPORTs a no-change sync sent before D100,
    // and the one PROPFIND of the collections' parent it sends since (where they share one).
    const floors = {};
    for (const mode of ['floor', 'probe']) floors[mode] = JSON.parse(ok(await child(mode, CLIS[0]), `warm ${mode}`).stdout.trim().split('\n').at(-1));
    log(`  floors: three REPORTs ${floors.floor.msPerMailbox} ms, one PROPFIND ${floors.probe.msPerMailbox} ms per mailbox`);
    for (const cli of CLIS) {
      const r = ok(await child('sync', cli), 'warm sweeps');
      const sync = JSON.parse(r.stdout.trim().split('\n').at(-1));
      (results[label(cli)] ??= {}).warm = { msPerMailbox: sync.msPerMailbox, floorReportsMs: floors.floor.msPerMailbox, floorProbeMs: floors.probe.msPerMailbox, sweeps: sync.sweeps, floorSweeps: floors.floor.sweeps, probeSweeps: floors.probe.sweeps };
      log(`  ${label(cli)}: ${JSON.stringify(results[label(cli)].warm)}`);
      if (values.profile) {
        const dir = join(root, `profile-warm-${CLIS.indexOf(cli)}`);
        const kept = join(tmpdir(), `mailbox-cpu-warm-${process.pid}-${CLIS.indexOf(cli)}.cpuprofile`);
        copyFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))), kept);
        log(`  profile kept in ${kept}`);
      }
    }
  }

  if (ONLY.has('s')) {
    // (s) spaced: the warm engine syncs one mailbox at a time with a gap of idle between two
    // syncs, as a daemon does between its wake-ups: the same work, only the idle differs.
    for (const gap of values.gaps.split(',').map(Number)) {
      for (const cli of CLIS) {
        const r = ok(await L.measured(process.execPath, [join(L.ROOT, 'bench', 'warm-sweep-child.mjs'), 'spaced', cli.replace(/\/bin\/sync-cli$/, ''), home, String(Math.min(WARM, 4))], { env: { BENCH_PASSWORD: L.PASSWORD, GAP_MS: String(gap) } }), 'spaced sweeps');
        const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
        ((results[label(cli)] ??= {}).spaced ??= {})[gap] = out;
        log(`(s) ${label(cli)}: one mailbox at a time, ${gap} ms idle between: ${out.msPerMailbox} ms per sync (${out.sweeps.join(', ')})`);
      }
      // The floor spaced the same way: the one PROPFIND per mailbox from a bare loop.
      const f = JSON.parse(ok(await L.measured(process.execPath, [join(L.ROOT, 'bench', 'warm-sweep-child.mjs'), 'probe', CLIS[0].replace(/\/bin\/sync-cli$/, ''), home, String(Math.min(WARM, 4))], { env: { BENCH_PASSWORD: L.PASSWORD, GAP_MS: String(gap) } }), 'spaced floor').stdout.trim().split('\n').at(-1));
      (results.spacedFloor ??= {})[gap] = f;
      log(`(s) floor, one PROPFIND at a time, ${gap} ms idle between: ${f.msPerMailbox} ms per mailbox (${f.sweeps.join(', ')})`);
    }
  }

  // --abba: each build's daemon (and cluster) twice, in the order A B B A; their windows together.
  const IN_TURN = values.abba ? [...CLIS, ...[...CLIS].reverse()] : CLIS;
  const together = (before, now) => {
    if (!before) return now;
    const windows = [...before.windows, ...now.windows];
    const pg = windows.every((w) => w.pgMsPerMailbox !== undefined) ? { pgMsPerMailbox: +median(windows.map((w) => w.pgMsPerMailbox)).toFixed(3) } : {};
    return { msPerMailbox: +median(windows.map((w) => w.msPerMailbox)).toFixed(3), ...pg, windows, firstMs: before.msPerMailbox, secondMs: now.msPerMailbox };
  };

  if (ONLY.has('b')) {
    for (const cli of IN_TURN) {
      log(`(b) ${label(cli)}: daemon on SQLite, interval ${INTERVAL} s${values.profile ? ' (under the V8 profiler)' : ''}`);
      const profDir = join(root, `profile-daemon-${CLIS.indexOf(cli)}`);
      const d = startCli(cli, ['daemon'], {}, values.profile ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []);
      try {
        const r = (results[label(cli)] ??= {});
        r.daemon = together(r.daemon, await cycles([d]));
      } catch (err) {
        throw new Error(`${err.message}\n${d.tail}`);
      } finally {
        await stopCli(d);
      }
      if (values.profile) {
        // Where a daemon's CPU goes over its whole life (start sweep, settling and measured windows).
        const file = join(profDir, readdirSync(profDir)[0]);
        for (const t of topFunctions(file, 40)) log(`${String(t.selfMs).padStart(7)} ms ${String(t.pct).padStart(5)} %  ${t.name}  ${t.where}`);
        for (const t of byPackage(file, 25)) log(`${String(t.selfMs).padStart(7)} ms ${String(t.pct).padStart(5)} %  ${t.group}`);
        copyFileSync(file, join(tmpdir(), `mailbox-cpu-daemon-${process.pid}-${CLIS.indexOf(cli)}.cpuprofile`));
        log(`profile kept in ${join(tmpdir(), `mailbox-cpu-daemon-${process.pid}-${CLIS.indexOf(cli)}.cpuprofile`)}`);
      }
    }
  }

  if (ONLY.has('c')) {
    ok(await L.cli(home, ['state', 'connect', 'postgres', '--url', PG_URL, '--schema', schema], { env: { SYNC_CLI_CLUSTER_KEY: '', CREDENTIALS_DIRECTORY: '' } }), 'state connect postgres');
    admin = new pg.Client(PG_URL);
    await admin.connect();
    for (const cli of IN_TURN) {
      log(`(c) ${label(cli)}: cluster: PostgreSQL state (schema ${schema}), one daemon + one worker`);
      const d = startCli(cli, ['daemon']);
      const w = startCli(cli, ['worker', '--concurrency', String(config.sync.mailboxConcurrency)]);
      const r = (results[label(cli)] ??= {});
      try {
        r.cluster = together(r.cluster, await cycles([d, w], admin));
        r.cluster.syncedBy = { daemon: d.synced, worker: w.synced };
      } catch (err) {
        throw new Error(`${err.message}\n--- daemon\n${d.tail}\n--- worker\n${w.tail}`);
      } finally {
        await stopCli(w);
        await stopCli(d);
      }
      if (r.daemon) r.clusterOverheadMsPerMailbox = +(r.cluster.msPerMailbox - r.daemon.msPerMailbox).toFixed(3);
    }
  }
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
} finally {
  if (admin) {
    for (const s of [schema, `${schema}_queue`, `${schema}_cluster`]) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
    await admin.end();
  }
  for (const c of children) if (c !== radicale && c.exitCode === null) c.kill('SIGKILL');
  radicale.kill('SIGTERM');
  await new Promise((r) => (radicale.exitCode !== null ? r() : radicale.once('exit', r)));
  rmSync(root, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
}
