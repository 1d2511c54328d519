// The sync engine benchmark (issue 6): every number of bench/README.md comes from one run of
// this script. `npm run bench` (full, ~15–25 min) or `npm run bench -- --quick` (smoke, ~3 min).
// Options: --quick, --only=0,1,1x,2,2b,3,4 (steps), --no-profile.
// Writes bench/results/<mode>-latest.json and .md and prints the .md.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as L from './lib.mjs';
import { topFunctions } from './cpuprofile-top.mjs';
import { importCosts } from './startup.mjs';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const only = (argv.find((a) => a.startsWith('--only=')) ?? '').slice(7).split(',').filter(Boolean);
const profile = !argv.includes('--no-profile');
const want = (step) => only.length === 0 || only.includes(step);
const SIZES = quick
  ? { contacts: 200, appointments: 50, big: 1000, huge: 2000, hugeAppointments: 200, runs: 3 }
  : { contacts: 2000, appointments: 500, big: 10000, huge: 18000, hugeAppointments: 2000, runs: 5 };
const CONCURRENCY = 4; // sync.concurrency default of sync-cli
const mode = quick ? 'quick' : 'full';
const outDir = join(L.ROOT, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const profDir = join(outDir, `${mode}-profiles`);
const R = { mode, sizes: SIZES, startedAt: new Date().toISOString(), machine: machineInfo(), steps: {} };
const t0 = Date.now();
const log = (...a) => console.error(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s]`, ...a);

function sh(cmd) {
  return spawnSync('bash', ['-c', cmd], { encoding: 'utf8' }).stdout.trim();
}
function machineInfo() {
  return {
    nproc: Number(sh('nproc')),
    cpu: cpus()[0]?.model,
    memGb: +(totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    radicale: sh('radicale --version'),
    xandikos: sh("dpkg-query -W -f '${Version}' xandikos"),
    vdirsyncer: sh("dpkg-query -W -f '${Version}' vdirsyncer"),
    hyperfine: sh('hyperfine --version'),
    commit: sh(`git -C ${L.ROOT} rev-parse --short HEAD`),
    kernel: sh('uname -r'),
  };
}

// ---------------------------------------------------------------------------------------------
const authHeader = (user) => 'Basic ' + Buffer.from(`${user}:${L.PASSWORD}`).toString('base64');

function request(agent, url, { method, headers = {}, body, user }) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method, agent, headers: { Authorization: authHeader(user), ...headers } }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Creates an address book or a calendar (Radicale's extended MKCOL / MKCALENDAR). */
async function makeCollection(base, user, path, kind, displayName) {
  const agent = new http.Agent({ keepAlive: false });
  const body =
    kind === 'contacts'
      ? `<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/><C:addressbook/></D:resourcetype><D:displayname>${displayName}</D:displayname></D:prop></D:set></D:mkcol>`
      : `<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>${displayName}</D:displayname><C:supported-calendar-component-set><C:comp name="${kind === 'tasks' ? 'VTODO' : 'VEVENT'}"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>`;
  const res = await request(agent, `${base}${path}`, { method: kind === 'contacts' ? 'MKCOL' : 'MKCALENDAR', user, headers: { 'Content-Type': 'application/xml' }, body });
  if (res.status !== 201) throw new Error(`creating ${path}: HTTP ${res.status} ${res.body}`);
}

/** Items of a vdir folder as { name, data }. */
function vdirItems(folder, ext) {
  return readdirSync(folder)
    .filter((f) => f.endsWith(ext))
    .sort()
    .map((name) => ({ name, data: readFileSync(join(folder, name), 'utf8') }));
}

/**
 * The server's floor: PUT every item with If-None-Match: *, `CONCURRENCY` at a time, in its own
 * measured process (bench/put-floor.mjs), so its client CPU is the least a Node client pays.
 */
async function rawPutLoop(base, user, batches) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-floor-'));
  const jobs = batches.flatMap(({ path, folder, items, type }) => items.map((it) => ({ url: `${base}${path}${encodeURIComponent(it.name)}`, file: join(folder, it.name), type })));
  const file = join(dir, 'jobs.json');
  writeFileSync(file, JSON.stringify({ concurrency: CONCURRENCY, authorization: authHeader(user), jobs }));
  const r = ok(await L.measured(process.execPath, [join(L.ROOT, 'bench', 'put-floor.mjs'), file]), 'raw PUT floor');
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  return { wall: r.wall, cpu: round(r.cpu), rssMb: round(r.rssMb), puts: out.puts, failures: out.failures };
}

function vdirsyncerConfig(dir, pairs) {
  mkdirSync(dir, { recursive: true });
  const lines = ['[general]', `status_path = "${join(dir, 'status')}"`, ''];
  for (const p of pairs) {
    lines.push(`[pair ${p.name}]`, `a = "${p.name}_local"`, `b = "${p.name}_remote"`, 'collections = null', `conflict_resolution = "${p.winner ?? 'a'} wins"`, '');
    lines.push(`[storage ${p.name}_local]`, 'type = "filesystem"', `path = "${p.local}"`, `fileext = "${p.ext}"`, '');
    lines.push(`[storage ${p.name}_remote]`, `type = "${p.type}"`, `url = "${p.url}"`, `username = "${p.user}"`, `password = "${L.PASSWORD}"`, '');
  }
  const file = join(dir, 'config');
  writeFileSync(file, lines.join('\n'));
  return file;
}

// Async: it talks through the counting proxy of this process.
async function vdirsyncerDiscover(cfg) {
  const r = await L.measured('vdirsyncer', ['-c', cfg, 'discover'], { input: 'y\ny\ny\n' });
  if (r.code !== 0) throw new Error(`vdirsyncer discover failed: ${r.stderr}`);
}

const ok = (r, what) => {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r;
};
const summaryOf = (r) => {
  try {
    const j = JSON.parse(r.stdout).mailboxes[0];
    return { created: j.created, updated: j.updated, deleted: j.deleted, crmUpdates: j.crmUpdates, errors: j.errors.length, state: j.state };
  } catch {
    return undefined;
  }
};
const round = (x, d = 3) => (typeof x === 'number' ? +x.toFixed(d) : x);
const pick = (r) => ({ wall: round(r.wall), cpu: round(r.cpu), user: round(r.user), sys: round(r.sys), rssMb: round(r.rssMb, 1) });

/** A vdir written by sync-cli itself from a CRM home: the exact items sync-cli uploads. */
async function syncToVdir(doc, name) {
  const home = L.crmHome(doc, name);
  const vdir = mkdtempSync(join(tmpdir(), `bench-vdir-${name}-`));
  L.assign(home, pathToFileURL(vdir).href);
  const r = ok(await L.cli(home, ['run', '--once', '--json']), 'sync-cli run --once (vdir)');
  return { home, vdir, run: r, contacts: join(vdir, 'CRM-Kontakte'), appointments: join(vdir, 'CRM-Termine') };
}

async function withProfile(home, args, name) {
  if (!profile) return undefined;
  const dir = join(profDir, name);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.endsWith('.cpuprofile')) spawnSync('rm', ['-f', join(dir, f)]);
  await L.cli(home, args, { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] });
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  return file ? { file: join('bench', 'results', `${mode}-profiles`, name, file), top: topFunctions(join(dir, file), 15) } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Step 0: what a process start costs (the floor of every no-change run).
async function step0() {
  const s = {};
  R.steps['0-startup'] = s;
  log('startup: node -e 0, sync-cli --version, packages loaded by run --once');
  s.nodeBare = await L.hyperfine('node -e 0', `${process.execPath} -e 0`, { runs: SIZES.runs + 5 });
  s.syncCliVersion = await L.hyperfine('sync-cli --version', `${process.execPath} ${L.CLI} --version`, { runs: SIZES.runs + 5 });
  const home = L.crmHome(L.exchangeDoc({ addresses: 1, appointments: 0 }), 'startup');
  const vdir = mkdtempSync(join(tmpdir(), 'bench-vdir-startup-'));
  L.assign(home, pathToFileURL(vdir).href);
  await L.cli(home, ['run', '--once']);
  const traced = await L.measured(process.execPath, ['--import', join(L.ROOT, 'bench', 'trace-imports.mjs'), L.CLI, '--home', home, 'run', '--once']);
  s.packagesLoaded = (traced.stderr.match(/\[trace-imports\] (.*)/) ?? [])[1];
  s.noChangeTinyVdir = await L.hyperfine('sync-cli run --once, 1-item vdir', `${process.execPath} ${L.CLI} --home ${home} run --once`, { runs: SIZES.runs + 5 });
  s.importCosts = importCosts(quick ? 1 : 3);
  log('startup', { bare: s.nodeBare.mean, version: s.syncCliVersion.mean, tiny: s.noChangeTinyVdir.mean });
}

/** Floor on one server: its two collections, then the raw PUT loop; CPU the server spent on it. */
async function floorOn(proxy, pid, src, { contacts, appts }, paths, label) {
  await makeCollection(proxy.url, 'floor', paths.contacts, 'contacts', `${label} contacts`);
  await makeCollection(proxy.url, 'floor', paths.calendar, 'appointments', `${label} calendar`);
  const cpu0 = L.procCpuSeconds(pid);
  const floor = await rawPutLoop(proxy.url, 'floor', [
    { path: paths.contacts, folder: src.contacts, items: contacts, type: 'text/vcard; charset=utf-8' },
    { path: paths.calendar, folder: src.appointments, items: appts, type: 'text/calendar; charset=utf-8' },
  ]);
  return { ...floor, wall: round(floor.wall), serverCpu: round(L.procCpuSeconds(pid) - cpu0) };
}

/** sync-cli's initial sync of a fresh CRM home into the server behind the proxy, measured and counted. */
async function syncCliInitial(proxy, pid, doc, name) {
  const home = L.crmHome(doc, name);
  L.assign(home, `${proxy.url}/`);
  proxy.reset();
  const cpu0 = L.procCpuSeconds(pid);
  const run = ok(await L.cli(home, ['run', '--once', '--json']), `sync-cli initial run (${name})`);
  return { run, home, result: { ...pick(run), serverCpu: round(L.procCpuSeconds(pid) - cpu0), requests: proxy.byMethod(), result: summaryOf(run) } };
}

/** vdirsyncer's first sync of the same files into two fresh collections, measured and counted. */
async function vdirsyncerInitial(proxy, pid, src, paths) {
  await makeCollection(proxy.url, 'vdir', paths.contacts, 'contacts', 'vdirsyncer contacts');
  await makeCollection(proxy.url, 'vdir', paths.calendar, 'appointments', 'vdirsyncer calendar');
  const vsDir = mkdtempSync(join(tmpdir(), 'bench-vdirsyncer-'));
  const vsLocal = join(vsDir, 'local');
  cpSync(src.contacts, join(vsLocal, 'contacts'), { recursive: true });
  cpSync(src.appointments, join(vsLocal, 'calendar'), { recursive: true });
  const cfg = vdirsyncerConfig(vsDir, [
    { name: 'contacts', local: join(vsLocal, 'contacts'), ext: '.vcf', type: 'carddav', url: `${proxy.url}${paths.contacts}`, user: 'vdir' },
    { name: 'calendar', local: join(vsLocal, 'calendar'), ext: '.ics', type: 'caldav', url: `${proxy.url}${paths.calendar}`, user: 'vdir' },
  ]);
  await vdirsyncerDiscover(cfg);
  proxy.reset();
  const cpu0 = L.procCpuSeconds(pid);
  const run = ok(await L.measured('vdirsyncer', ['-c', cfg, 'sync']), 'vdirsyncer initial sync');
  return { run, cfg, local: vsLocal, result: { ...pick(run), serverCpu: round(L.procCpuSeconds(pid) - cpu0), requests: proxy.byMethod() } };
}

// ---------------------------------------------------------------------------------------------
// Step 1x: the initial upload of step 1 against Xandikos, which keeps connections alive (HTTP/1.1)
// where Radicale closes each one: how much of step 1's client CPU is the server's connection
// handling. Xandikos has one principal (/user/, no auth): floor, sync-cli and vdirsyncer each
// write their own collections under it, one after the other.
async function step1x() {
  const doc = L.exchangeDoc({ addresses: SIZES.contacts, appointments: SIZES.appointments });
  const src = await syncToVdir(doc, 'src-x');
  const contacts = vdirItems(src.contacts, '.vcf');
  const appts = vdirItems(src.appointments, '.ics');
  const xan = await L.startXandikos();
  const proxy = await L.startCountingProxy(xan.url);
  const s = {};
  R.steps['1x-initial-xandikos'] = s;
  try {
    log('1x floor (Xandikos)');
    const items = { contacts, appts };
    const floor = await floorOn(proxy, xan.pid, src, items, { contacts: '/user/contacts/floor/', calendar: '/user/calendars/floor/' }, 'floor');
    s.floor = floor;
    log('1x floor', s.floor);
    log('1x sync-cli initial sync (Xandikos)');
    const { run: init, result } = await syncCliInitial(proxy, xan.pid, doc, 'x');
    s.syncCli = result;
    log('1x sync-cli', s.syncCli);
    log('1x vdirsyncer (Xandikos)');
    const { run: vs, result: vsResult } = await vdirsyncerInitial(proxy, xan.pid, src, { contacts: '/user/contacts/vdir/', calendar: '/user/calendars/vdir/' });
    s.vdirsyncer = vsResult;
    log('1x vdirsyncer', s.vdirsyncer);
    s.wallRatio = round(init.wall / floor.wall);
    s.cpuRatio = round(init.cpu / vs.cpu);
    s.cpuVsFloor = round(init.cpu / floor.cpu);
    s.floorCpuVsVdirsyncer = round(floor.cpu / vs.cpu);
  } finally {
    await proxy.stop();
    await xan.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Step 1 + 2 (2k) + 3: one Radicale, three users: bench (sync-cli), vdir (vdirsyncer), floor.
async function steps123() {
  const doc = L.exchangeDoc({ addresses: SIZES.contacts, appointments: SIZES.appointments });
  log(`generating the items: sync-cli into a vdir (${SIZES.contacts} contacts + ${SIZES.appointments} appointments)`);
  const src = await syncToVdir(doc, 'src');
  const contacts = vdirItems(src.contacts, '.vcf');
  const appts = vdirItems(src.appointments, '.ics');
  if (contacts.length !== SIZES.contacts || appts.length !== SIZES.appointments) throw new Error(`vdir holds ${contacts.length} contacts, ${appts.length} events`);

  const rad = await L.startRadicale();
  const proxy = await L.startCountingProxy(rad.url);
  const step1 = {};
  R.steps['1-initial'] = step1;

  log('floor: raw PUT loop');
  const items = { contacts, appts };
  const floor = await floorOn(proxy, rad.pid, src, items, { contacts: '/floor/contacts/', calendar: '/floor/calendar/' }, 'floor');
  step1.floor = floor;
  log('floor', step1.floor);

  log('sync-cli initial sync into Radicale');
  const { run: init, home, result: syncCliResult } = await syncCliInitial(proxy, rad.pid, doc, 'main');
  step1.syncCli = syncCliResult;
  log('sync-cli', step1.syncCli);
  if (!quick) {
    // A second floor after our run: on a shared 2-core machine one floor alone is noise.
    log('floor again: raw PUT loop into fresh collections');
    step1.floorAfter = await floorOn(proxy, rad.pid, src, items, { contacts: '/floor/contacts2/', calendar: '/floor/calendar2/' }, 'floor 2');
    log('floor after', step1.floorAfter);
  }
  const floorWall = Math.min(floor.wall, step1.floorAfter?.wall ?? Infinity);
  step1.wallRatio = round(init.wall / floorWall);

  log('vdirsyncer initial sync (same vCards + .ics) into fresh collections');
  const { run: vs, cfg, local: vsLocal, result: vsResult } = await vdirsyncerInitial(proxy, rad.pid, src, { contacts: '/vdir/contacts/', calendar: '/vdir/calendar/' });
  step1.vdirsyncer = vsResult;
  step1.cpuRatio = round(init.cpu / vs.cpu);
  // The least a Node client pays for these PUTs: the floor process's own CPU.
  step1.floorCpu = Math.min(floor.cpu, step1.floorAfter?.cpu ?? Infinity);
  step1.cpuVsFloor = round(init.cpu / step1.floorCpu);
  step1.floorCpuVsVdirsyncer = round(step1.floorCpu / vs.cpu);
  step1.targets = { wallRatio: '≤ 1.1', cpuRatio: '≤ 0.333', wallMet: step1.wallRatio <= 1.1, cpuMet: step1.cpuRatio <= 1 / 3 };
  log('vdirsyncer', step1.vdirsyncer);

  if (profile) {
    // Where our CPU goes in an upload: a profiled initial sync of a smaller CRM into a fresh
    // Radicale (empty collections are fast, so this takes seconds, not minutes).
    const n = quick ? 100 : 500;
    const prad = await L.startRadicale();
    const phome = L.crmHome(L.exchangeDoc({ addresses: n, appointments: n / 5 }), 'prof');
    L.assign(phome, `${prad.url}/`);
    step1.profileInitialDav = { items: n + n / 5, ...(await withProfile(phome, ['run', '--once'], 'initial-dav')) };
    const measuredAgain = await L.cli(phome, ['run', '--once']);
    step1.profileInitialDav.noChangeAfter = pick(measuredAgain);
    await prad.stop();
  }

  if (want('2')) {
    const s2 = {};
    R.steps['2-nochange-2k'] = s2;
    log('no-change: one counted run each');
    proxy.reset();
    const one = ok(await L.cli(home, ['run', '--once', '--json']), 'no-change run');
    s2.syncCliOneRun = { ...pick(one), requests: proxy.byMethod(), requestList: proxy.timedRequests(), result: summaryOf(one) };
    proxy.reset();
    const vone = ok(await L.measured('vdirsyncer', ['-c', cfg, 'sync']), 'vdirsyncer no-change');
    s2.vdirsyncerOneRun = { ...pick(vone), requests: proxy.byMethod() };
    log('hyperfine sync-cli / vdirsyncer no-change');
    s2.syncCli = await L.hyperfine('sync-cli no-change', `${process.execPath} ${L.CLI} --home ${home} run --once`, { runs: SIZES.runs });
    s2.vdirsyncer = await L.hyperfine('vdirsyncer no-change', `vdirsyncer -c ${cfg} sync`, { runs: SIZES.runs });
    s2.speedup = round(s2.vdirsyncer.mean / s2.syncCli.mean, 2);
    s2.collections = 3;
    s2.targets = { speedup: '≥ 4', speedupMet: s2.speedup >= 4, requests: 'one per collection (3)', requestsMet: sumReq(s2.syncCliOneRun.requests) <= 3 };
    s2.profile = await withProfile(home, ['run', '--once'], 'nochange-2k');
    log('no-change 2k', { syncCli: s2.syncCli.mean, vdirsyncer: s2.vdirsyncer.mean, speedup: s2.speedup });
  }

  if (want('3')) {
    const s3 = {};
    R.steps['3-one-change'] = s3;
    const rec = doc.addresses[0];
    const changed = { users: doc.users, addresses: [{ ...rec, street: 'Neue Straße 99', city: 'Augsburg', postalCode: '86150' }], activities: [] };
    const file = join(home, 'one-change.json');
    writeFileSync(file, JSON.stringify(changed));
    L.cliSync(home, ['crm', 'import', file]);
    proxy.reset();
    const r = ok(await L.cli(home, ['run', '--once', '--json']), 'one-change run');
    s3.syncCli = { ...pick(r), requests: proxy.byMethod(), requestList: proxy.timedRequests(), result: summaryOf(r) };
    const put = proxy.requests().find((l) => l.startsWith('PUT'));
    // The device side holds the new street now: read it back (as a phone would).
    if (put) {
      const got = await request(new http.Agent(), `${proxy.url}${put.split(' ')[1]}`, { method: 'GET', user: L.LOGIN });
      s3.deviceHasNewStreet = got.body.includes('Neue Straße 99');
    }
    // The same kind of change for the peer: one edited .vcf in its vdir.
    const vf = join(vsLocal, 'contacts', contacts[0].name);
    writeFileSync(vf, readFileSync(vf, 'utf8').replace(/^NOTE:.*$/m, 'NOTE:geändert'));
    proxy.reset();
    const v = ok(await L.measured('vdirsyncer', ['-c', cfg, 'sync']), 'vdirsyncer one change');
    s3.vdirsyncer = { ...pick(v), requests: proxy.byMethod() };
    log('one change', s3);
  }
  await proxy.stop();
  await rad.stop();
}
const sumReq = (m) => Object.values(m).reduce((a, b) => a + b, 0);

// ---------------------------------------------------------------------------------------------
// Step 2b: 10k contacts, filled into Radicale's storage on disk (one .vcf per item, the bytes
// sync-cli itself writes), then adopted by sync-cli's first (full) run and vdirsyncer's first sync.
async function step2b() {
  const s = {};
  R.steps['2b-nochange-10k'] = s;
  const doc = L.exchangeDoc({ addresses: SIZES.big, appointments: 0 });
  log(`10k: sync-cli into a vdir (${SIZES.big} contacts)`);
  const src = await syncToVdir(doc, 'big');
  const radDir = mkdtempSync(join(tmpdir(), 'bench-radicale-big-'));
  const root = join(radDir, 'collections', 'collection-root');
  const fill = (user, coll, props, from) => {
    const dir = join(root, user, coll);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '.Radicale.props'), JSON.stringify(props));
    if (from) cpSync(from, dir, { recursive: true, filter: (f) => !f.endsWith('displayname') });
  };
  const fillStart = Date.now();
  fill(L.LOGIN, 'crm-contacts', { 'D:displayname': 'CRM Kontakte', tag: 'VADDRESSBOOK' }, src.contacts);
  fill(L.LOGIN, 'crm-appointments', { 'D:displayname': 'CRM Termine', tag: 'VCALENDAR', 'C:supported-calendar-component-set': 'VEVENT' });
  fill(L.LOGIN, 'crm-tasks', { 'D:displayname': 'CRM Aufgaben', tag: 'VCALENDAR', 'C:supported-calendar-component-set': 'VTODO' });
  fill('vdir', 'contacts', { 'D:displayname': 'vdirsyncer contacts', tag: 'VADDRESSBOOK' }, src.contacts);
  s.fillSeconds = round((Date.now() - fillStart) / 1000);
  const rad = await L.startRadicale({ dir: radDir });
  const proxy = await L.startCountingProxy(rad.url);

  const home = L.crmHome(doc, 'big');
  const importedAt = Date.now();
  L.assign(home, `${proxy.url}/`);
  log('10k: sync-cli first run (adopts the items by UID)');
  proxy.reset();
  const first = ok(await L.cli(home, ['run', '--once', '--json']), 'sync-cli 10k adopt run');
  s.syncCliAdopt = { ...pick(first), requests: proxy.byMethod(), result: summaryOf(first) };
  proxy.reset();
  const one = ok(await L.cli(home, ['run', '--once', '--json']), 'sync-cli 10k no-change');
  s.syncCliOneRun = { ...pick(one), requests: proxy.byMethod(), requestList: proxy.timedRequests(), result: summaryOf(one) };
  log('10k sync-cli', s.syncCliAdopt, s.syncCliOneRun);

  const vsDir = mkdtempSync(join(tmpdir(), 'bench-vdirsyncer-big-'));
  cpSync(src.contacts, join(vsDir, 'local'), { recursive: true });
  const cfg = vdirsyncerConfig(vsDir, [{ name: 'contacts', local: join(vsDir, 'local'), ext: '.vcf', type: 'carddav', url: `${proxy.url}/vdir/contacts/`, user: 'vdir', winner: 'b' }]);
  await vdirsyncerDiscover(cfg);
  // vdirsyncer sees the server's re-serialised items as different from the files: with "b wins"
  // its first sync rewrites local files instead of re-uploading 10k items (30+ min on Radicale).
  log('10k: vdirsyncer first sync (both sides hold the same items)');
  proxy.reset();
  const vfirst = ok(await L.measured('vdirsyncer', ['-c', cfg, 'sync']), 'vdirsyncer 10k first');
  s.vdirsyncerFirst = { ...pick(vfirst), requests: proxy.byMethod() };
  log('10k vdirsyncer first', s.vdirsyncerFirst);

  // R6: records changed within crm.overlapSeconds (120 s) of the last sync are re-read on every
  // run; the import of 10k records was just now, so wait that window out: a no-change run in
  // practice comes long after the last CRM change. (Step 4 shows a run inside the window.)
  // (--quick skips the wait: a smoke run, its 10k-step numbers include the re-read.)
  const wait = quick ? 0 : importedAt + 125_000 - Date.now();
  if (wait > 0) {
    log(`10k: waiting ${Math.round(wait / 1000)} s for the CRM overlap window to pass`);
    await new Promise((r) => setTimeout(r, wait));
  }
  log('10k: hyperfine');
  proxy.reset();
  const settled = ok(await L.cli(home, ['run', '--once', '--json']), 'sync-cli 10k no-change after the window');
  s.syncCliOneRunInsideWindow = s.syncCliOneRun;
  s.syncCliOneRun = { ...pick(settled), requests: proxy.byMethod(), requestList: proxy.timedRequests(), result: summaryOf(settled) };
  s.syncCli = await L.hyperfine('sync-cli no-change 10k', `${process.execPath} ${L.CLI} --home ${home} run --once`, { runs: SIZES.runs });
  proxy.reset();
  s.vdirsyncer = await L.hyperfine('vdirsyncer no-change 10k', `vdirsyncer -c ${cfg} sync`, { runs: SIZES.runs, warmup: 0 });
  s.vdirsyncerRequestsPerRun = sumReq(proxy.byMethod()) / SIZES.runs;
  s.speedup = round(s.vdirsyncer.mean / s.syncCli.mean, 2);
  s.targets = { speedup: '≥ 10', speedupMet: s.speedup >= 10, requests: 'one per collection (3)', requestsMet: sumReq(s.syncCliOneRun.requests) <= 3 };
  s.profile = await withProfile(home, ['run', '--once'], 'nochange-10k');
  log('10k', { syncCli: s.syncCli.mean, vdirsyncer: s.vdirsyncer.mean, speedup: s.speedup });
  await proxy.stop();
  await rad.stop();
}

// ---------------------------------------------------------------------------------------------
// Step 4: peak RSS for a 20,000-item vdir mailbox (initial sync, then a no-change run).
async function step4() {
  const s = {};
  R.steps['4-rss-20k'] = s;
  const doc = L.exchangeDoc({ addresses: SIZES.huge, appointments: SIZES.hugeAppointments });
  log(`20k: CRM import (${SIZES.huge} contacts + ${SIZES.hugeAppointments} appointments)`);
  const home = L.crmHome(doc, 'huge');
  const vdir = mkdtempSync(join(tmpdir(), 'bench-vdir-huge-'));
  L.assign(home, pathToFileURL(vdir).href);
  const init = ok(await L.cli(home, ['run', '--once', '--json']), 'sync-cli 20k initial (vdir)');
  s.initial = { ...pick(init), result: summaryOf(init) };
  // Right after the initial sync: inside the CRM overlap window (R6), all records are re-read.
  const none = ok(await L.cli(home, ['run', '--once', '--json']), 'sync-cli 20k no-change (vdir)');
  s.noChange = { ...pick(none), result: summaryOf(none) };
  const full = ok(await L.cli(home, ['run', '--once', '--json', '--full']), 'sync-cli 20k --full (vdir)');
  s.full = { ...pick(full), result: summaryOf(full) };
  s.items = SIZES.huge + SIZES.hugeAppointments;
  if (profile) {
    // Profile an initial sync of a second, empty vdir (CPU-bound: no server in the way).
    const vdir2 = mkdtempSync(join(tmpdir(), 'bench-vdir-huge2-'));
    L.assign(home, pathToFileURL(vdir2).href);
    s.profileInitial = await withProfile(home, ['run', '--once'], 'initial-20k-vdir');
  }
  log('20k', s);
}

// ---------------------------------------------------------------------------------------------
function markdown() {
  const m = R.machine;
  const lines = [`# Bench results (${mode}, ${R.startedAt}, ${R.totalSeconds}s)`, ''];
  lines.push(`Machine: ${m.nproc} cores (${m.cpu}), ${m.memGb} GB, Node ${m.node}, Radicale ${m.radicale}, Xandikos ${m.xandikos}, vdirsyncer ${m.vdirsyncer}, ${m.hyperfine}, commit ${m.commit}`, '');
  const s0 = R.steps['0-startup'];
  if (s0) {
    lines.push('## 0. Process start (floor of every no-change run)', '');
    lines.push('| command | mean s | ± s | user s | sys s |', '|---|---|---|---|---|');
    for (const v of [s0.nodeBare, s0.syncCliVersion, s0.noChangeTinyVdir]) lines.push(`| ${v.name} | ${round(v.mean)} | ${round(v.stddev)} | ${round(v.user)} | ${round(v.system)} |`);
    lines.push('', `Packages loaded by \`run --once\` (SQLite CRM, vdir mailbox): ${s0.packagesLoaded}`, '');
    lines.push('Import time, each alone in a fresh process (median ms): ' + s0.importCosts.map((c) => `${c.module} ${c.medianMs}`).join(', '), '');
  }
  const s1 = R.steps['1-initial'];
  if (s1) {
    lines.push(`## 1. Initial sync, ${SIZES.contacts} contacts + ${SIZES.appointments} appointments, Radicale`, '');
    lines.push('| | wall s | CPU s (user+sys) | peak RSS MB | server CPU s | requests |', '|---|---|---|---|---|---|');
    lines.push(`| raw PUT floor (${CONCURRENCY} concurrent, Node process), before | ${s1.floor.wall} | ${s1.floor.cpu ?? '—'} | ${s1.floor.rssMb ?? '—'} | ${s1.floor.serverCpu} | PUT ${s1.floor.puts} (${s1.floor.failures} failed) |`);
    if (s1.floorAfter) lines.push(`| raw PUT floor, after sync-cli | ${s1.floorAfter.wall} | ${s1.floorAfter.cpu ?? '—'} | ${s1.floorAfter.rssMb ?? '—'} | ${s1.floorAfter.serverCpu} | PUT ${s1.floorAfter.puts} (${s1.floorAfter.failures} failed) |`);
    lines.push(`| sync-cli run --once | ${s1.syncCli.wall} | ${s1.syncCli.cpu} | ${s1.syncCli.rssMb} | ${s1.syncCli.serverCpu} | ${JSON.stringify(s1.syncCli.requests)} |`);
    lines.push(`| vdirsyncer sync | ${s1.vdirsyncer.wall} | ${s1.vdirsyncer.cpu} | ${s1.vdirsyncer.rssMb} | ${s1.vdirsyncer.serverCpu} | ${JSON.stringify(s1.vdirsyncer.requests)} |`, '');
    if (s1.profileInitialDav?.top) lines.push(`CPU profile of an initial sync of ${s1.profileInitialDav.items} items into a fresh Radicale (${s1.profileInitialDav.file}), top self time:`, '', ...profileTable(s1.profileInitialDav.top), '');
    lines.push(`wall / faster floor = **${s1.wallRatio}** (target ≤ 1.1: ${s1.targets.wallMet ? 'met' : 'MISSED'}); CPU sync-cli / vdirsyncer = **${s1.cpuRatio}** (target ≤ 0.333: ${s1.targets.cpuMet ? 'met' : 'MISSED'}); CPU sync-cli / raw-PUT floor process = **${s1.cpuVsFloor}**; the floor process alone / vdirsyncer = **${s1.floorCpuVsVdirsyncer}**`, '');
  }
  const x = R.steps['1x-initial-xandikos'];
  if (x?.vdirsyncer) {
    lines.push(`## 1x. The same initial upload against Xandikos (keeps connections alive)`, '', '| | wall s | CPU s (user+sys) | peak RSS MB | server CPU s | requests |', '|---|---|---|---|---|---|');
    lines.push(`| raw PUT floor (${CONCURRENCY} concurrent, Node process) | ${x.floor.wall} | ${x.floor.cpu} | ${x.floor.rssMb} | ${x.floor.serverCpu} | PUT ${x.floor.puts} (${x.floor.failures} failed) |`);
    lines.push(`| sync-cli run --once | ${x.syncCli.wall} | ${x.syncCli.cpu} | ${x.syncCli.rssMb} | ${x.syncCli.serverCpu} | ${JSON.stringify(x.syncCli.requests)} |`);
    lines.push(`| vdirsyncer sync | ${x.vdirsyncer.wall} | ${x.vdirsyncer.cpu} | ${x.vdirsyncer.rssMb} | ${x.vdirsyncer.serverCpu} | ${JSON.stringify(x.vdirsyncer.requests)} |`, '');
    lines.push(`wall / floor = **${x.wallRatio}**; CPU sync-cli / vdirsyncer = **${x.cpuRatio}**; CPU sync-cli / floor process = **${x.cpuVsFloor}**; the floor process alone / vdirsyncer = **${x.floorCpuVsVdirsyncer}**`, '');
  }
  const noChange = (title, s, n) => {
    if (!s) return;
    lines.push(`## ${title}`, '');
    lines.push('| | mean s | ± s | min s | max s | runs | requests (one counted run) |', '|---|---|---|---|---|---|---|');
    lines.push(`| sync-cli run --once | ${round(s.syncCli.mean)} | ${round(s.syncCli.stddev)} | ${round(s.syncCli.min)} | ${round(s.syncCli.max)} | ${s.syncCli.runs} | ${JSON.stringify(s.syncCliOneRun.requests)} |`);
    lines.push(`| vdirsyncer sync | ${round(s.vdirsyncer.mean)} | ${round(s.vdirsyncer.stddev)} | ${round(s.vdirsyncer.min)} | ${round(s.vdirsyncer.max)} | ${s.vdirsyncer.runs} | ${s.vdirsyncerOneRun ? JSON.stringify(s.vdirsyncerOneRun.requests) : `${s.vdirsyncerRequestsPerRun} per run`} |`, '');
    lines.push(`speed-up **${s.speedup}×** (target ${s.targets.speedup}: ${s.targets.speedupMet ? 'met' : 'MISSED'}); requests of sync-cli: **${sumReq(s.syncCliOneRun.requests)}** for 3 collections (target 3: ${s.targets.requestsMet ? 'met' : 'MISSED'}): ${s.syncCliOneRun.requestList.join(', ')}`, '');
    lines.push(`sync-cli no-change run: CPU ${s.syncCliOneRun.cpu} s, peak RSS ${s.syncCliOneRun.rssMb} MB${n ? `; ${n}` : ''}`, '');
    if (s.profile) lines.push(`CPU profile (${s.profile.file}), top self time:`, '', ...profileTable(s.profile.top), '');
  };
  noChange(`2. No-change run at ${SIZES.contacts + SIZES.appointments} items (Radicale)`, R.steps['2-nochange-2k']);
  const b = R.steps['2b-nochange-10k'];
  if (b) {
    noChange(`2b. No-change run at ${SIZES.big} contacts (Radicale, filled on disk)`, b,
      `a no-change run inside the CRM overlap window (right after the import, all ${SIZES.big} records re-read): ${b.syncCliOneRunInsideWindow.wall} s wall, ${b.syncCliOneRunInsideWindow.cpu} s CPU, ${b.syncCliOneRunInsideWindow.rssMb} MB; fill on disk ${b.fillSeconds} s; sync-cli first run (adopting ${SIZES.big} items) ${b.syncCliAdopt.wall} s wall, ${b.syncCliAdopt.cpu} s CPU, ${JSON.stringify(b.syncCliAdopt.requests)}, result ${JSON.stringify(b.syncCliAdopt.result)}; vdirsyncer first sync ${b.vdirsyncerFirst.wall} s wall, ${b.vdirsyncerFirst.cpu} s CPU, ${b.vdirsyncerFirst.rssMb} MB, ${JSON.stringify(b.vdirsyncerFirst.requests)}`);
  }
  const s3 = R.steps['3-one-change'];
  if (s3) {
    lines.push('## 3. One CRM change (one address updated by `crm import`), next run', '');
    lines.push(`sync-cli: ${s3.syncCli.wall} s wall, ${s3.syncCli.cpu} s CPU, requests ${JSON.stringify(s3.syncCli.requests)} (${s3.syncCli.requestList.join(', ')}), result ${JSON.stringify(s3.syncCli.result)}, device holds the new street: ${s3.deviceHasNewStreet}`, '');
    lines.push(`vdirsyncer (one .vcf edited in its vdir): ${s3.vdirsyncer.wall} s wall, ${s3.vdirsyncer.cpu} s CPU, requests ${JSON.stringify(s3.vdirsyncer.requests)}`, '');
  }
  const s4 = R.steps['4-rss-20k'];
  if (s4) {
    lines.push(`## 4. ${s4.items}-item vdir mailbox (file://)`, '');
    lines.push('| run | wall s | CPU s | peak RSS MB | result |', '|---|---|---|---|---|');
    for (const [k, v] of [['initial sync', s4.initial], ['no-change (inside the 120 s CRM overlap window)', s4.noChange], ['--full, nothing to do', s4.full]]) lines.push(`| ${k} | ${v.wall} | ${v.cpu} | ${v.rssMb} | ${JSON.stringify(v.result)} |`);
    lines.push('');
    if (s4.profileInitial) lines.push(`CPU profile of the initial sync (${s4.profileInitial.file}), top self time:`, '', ...profileTable(s4.profileInitial.top), '');
  }
  return lines.join('\n');
}
function profileTable(top) {
  return ['| self ms | % | function | where |', '|---|---|---|---|', ...top.map((t) => `| ${t.selfMs} | ${t.pct} | ${t.name} | ${t.where} |`)];
}

// ---------------------------------------------------------------------------------------------
if (!existsSync(join(L.ROOT, 'dist', 'cli.js'))) throw new Error('build first: npm run build');
try {
  if (want('0')) await step0();
  if (want('1') || want('2') || want('3')) await steps123();
  if (want('1x')) await step1x();
  if (want('2b')) await step2b();
  if (want('4')) await step4();
} finally {
  R.totalSeconds = Math.round((Date.now() - t0) / 1000);
  const tag = only.length ? `${mode}-only-${only.join('_')}` : mode;
  writeFileSync(join(outDir, `${tag}-latest.json`), JSON.stringify(R, null, 2));
  const md = markdown();
  writeFileSync(join(outDir, `${tag}-latest.md`), md);
  console.log(md);
}
