// Daemon soak: N mailboxes on one Radicale, the embedded CRM, a steady trickle of CRM edits for
// M minutes. Every edit is followed until it is on the owner's device (push latency, no missed
// change); the daemon's RSS (/proc) and V8 heap (/metrics) are sampled every 10 s.
//
//   npm run build && node bench/daemon-soak.mjs --mailboxes 50 --minutes 10 --every-ms 2000
//
// Prints a JSON summary on stdout; progress on stderr.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLI, freePort, waitUntilAnswering } from './lib.mjs';
import { parseConfig, saveConfig } from '../dist/config/load.js';
import { resolvePaths } from '../dist/config/paths.js';
import { SqlCrmProvider, openSqlCrmProvider } from '../dist/providers/crm/index.js';
import { importExchange, parseExchangeText } from '../dist/providers/crm/exchange.js';
import { storeMailboxPassword } from '../dist/secrets/index.js';

const { values } = parseArgs({
  options: {
    mailboxes: { type: 'string', default: '50' },
    minutes: { type: 'string', default: '10' },
    'every-ms': { type: 'string', default: '2000' },
    'addresses-per-user': { type: 'string', default: '20' },
    interval: { type: 'string', default: '60' },
  },
});
const N = Number(values.mailboxes);
const MINUTES = Number(values.minutes);
const EVERY = Number(values['every-ms']);
const PER_USER = Number(values['addresses-per-user']);
const log = (...a) => process.stderr.write(a.join(' ') + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const root = mkdtempSync(join(tmpdir(), 'sync-cli-soak-'));
const home = join(root, 'home');
const users = Array.from({ length: N }, (_, i) => ({ login: `soak${i}`, password: `pw-soak-${i}` }));

// --- Radicale with N users ---
const radDir = join(root, 'radicale');
mkdirSync(radDir);
const radPort = await freePort();
writeFileSync(join(radDir, 'users'), users.map((u) => `${u.login}:${u.password}`).join('\n') + '\n');
writeFileSync(join(radDir, 'config'), ['[server]', `hosts = 127.0.0.1:${radPort}`, '[auth]', 'type = htpasswd', `htpasswd_filename = ${join(radDir, 'users')}`, 'htpasswd_encryption = plain', 'delay = 0', '[rights]', 'type = owner_only', '[storage]', `filesystem_folder = ${join(radDir, 'collections')}`, '[logging]', 'level = warning', ''].join('\n'));
const radicale = spawn('radicale', ['--config', join(radDir, 'config')], { stdio: ['ignore', 'ignore', 'inherit'] });
// A crash of this script must not leave the server (or the daemon) running.
process.once('exit', () => radicale.kill('SIGKILL'));
const radUrl = `http://127.0.0.1:${radPort}`;
await waitUntilAnswering(radUrl, radicale);

// --- CRM: N users, PER_USER addresses each, tagged with the user's tag ---
const paths = resolvePaths(home);
mkdirSync(home, { recursive: true, mode: 0o700 });
const base = { salutation: '', title: '', street: 'Teststraße 1', postalCode: '80331', city: 'München', country: 'Deutschland', fax: '', email: '', note: '', phones: [{ number: '+49 89 1', remark: '' }], private: false, deleted: false };
const doc = {
  users: users.map((u, i) => ({ id: `u${i}`, login: u.login, name: `Soak ${i}`, email: null, userTag: `T${i}`, addressTags: [`T${i}`], activityTags: [`T${i}`], importAppointmentType: 'Termin', importTaskType: 'Aufgabe' })),
  addresses: users.flatMap((_, i) => Array.from({ length: PER_USER }, (_, j) => ({ ...base, id: `a${i}-${j}`, company: `Firma ${i}-${j}`, firstName: 'Test', lastName: `SoakU${i}A${j}`, owner: `u${i}`, tags: [`T${i}`] }))),
  activities: [],
};
await SqlCrmProvider.createTables({ dialect: 'sqlite', url: paths.crmDb });
const crm = await openSqlCrmProvider({ dialect: 'sqlite', overlapSeconds: 120 }, paths);
await importExchange(crm, parseExchangeText(JSON.stringify(doc), 'soak'), 'soak');
const httpPort = await freePort();
const config = parseConfig(
  {
    daemon: { intervalSeconds: Number(values.interval), httpPort },
    dav: { retries: 1 },
    mailboxes: users.map((u, i) => ({ user: `u${i}`, url: radUrl + '/', username: u.login, credentialStore: 'file' })),
  },
  'soak config',
);
saveConfig(paths.configFile, config);
for (const m of config.mailboxes) await storeMailboxPassword(m, users.find((u) => u.login === m.username).password, paths);

// --- the daemon ---
const daemon = spawn(process.execPath, [CLI, '--home', home, '--log-format', 'json', 'daemon'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SYNC_CLI_WEBHOOK_SECRET: 'soak-secret-0123456789abcdef' } });
process.once('exit', () => daemon.kill('SIGKILL'));
let daemonErr = '';
daemon.stderr.on('data', (c) => {
  daemonErr = (daemonErr + c.toString()).slice(-200_000);
});
const metricsUrl = `http://127.0.0.1:${httpPort}/metrics`;

async function metric(name) {
  const text = await (await fetch(metricsUrl)).text();
  // Sum over all label sets (per-mailbox series).
  const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))].map((m) => Number(m[1]));
  return values.length ? values.reduce((a, b) => a + b, 0) : NaN;
}
function rssMb() {
  const s = readFileSync(`/proc/${daemon.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)[1]) / 1024;
}
async function sample(label) {
  const heap = (await metric('sync_cli_nodejs_heap_size_used_bytes')) / 2 ** 20;
  const s = { t: label, rssMb: +rssMb().toFixed(1), heapUsedMb: +heap.toFixed(1) };
  return s;
}

const auth = (u) => ({ Authorization: 'Basic ' + Buffer.from(`${u.login}:${u.password}`).toString('base64') });
/** href of each test contact on its owner's device, found once after the first sync. */
async function deviceIndex(u) {
  const root = `${radUrl}/${u.login}/`;
  const res = await fetch(root, { method: 'PROPFIND', headers: { ...auth(u), Depth: '1' } });
  const xml = await res.text();
  const cols = [...xml.matchAll(/<(?:\w+:)?href>([^<]+)<\/(?:\w+:)?href>/g)].map((m) => m[1]).filter((h) => h !== `/${u.login}/`);
  const index = new Map();
  for (const col of cols) {
    const r = await fetch(radUrl + col, { method: 'PROPFIND', headers: { ...auth(u), Depth: '1' } });
    const hrefs = [...(await r.text()).matchAll(/<(?:\w+:)?href>([^<]+\.vcf)<\/(?:\w+:)?href>/g)].map((m) => m[1]);
    for (const h of hrefs) {
      const body = await (await fetch(radUrl + h, { headers: auth(u) })).text();
      const name = /SoakU\d+A\d+/.exec(body)?.[0];
      if (name) index.set(name, radUrl + h);
    }
  }
  return index;
}

const t0 = Date.now();
const samples = [];
try {
  // Initial sync of all mailboxes.
  for (;;) {
    if (daemon.exitCode !== null) throw new Error(`daemon exited ${daemon.exitCode}:\n${daemonErr.slice(-3000)}`);
    const st = JSON.parse((await new Promise((res) => {
      const c = spawn(process.execPath, [CLI, '--home', home, 'status', '--json'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let o = '';
      c.stdout.on('data', (d) => (o += d));
      c.on('exit', () => res(o));
    })) || '{"mailboxes":[]}');
    const done = st.mailboxes.filter((m) => m.state === 'success').length;
    if (done === N) break;
    if (Date.now() - t0 > 15 * 60_000) throw new Error(`initial sync not done after 15 min (${done}/${N})`);
    await sleep(2000);
  }
  const initialSyncSeconds = (Date.now() - t0) / 1000;
  log(`initial sync of ${N} mailboxes: ${initialSyncSeconds.toFixed(1)} s`);
  const indexes = new Map();
  for (const u of users) indexes.set(u.login, await deviceIndex(u));
  samples.push(await sample('after initial sync'));

  const latencies = [];
  const missed = [];
  let n = 0;
  const end = Date.now() + MINUTES * 60_000;
  let nextSample = Date.now() + 10_000;
  while (Date.now() < end) {
    const started = Date.now();
    const i = n % N;
    const j = Math.floor(n / N) % PER_USER;
    const city = `Soakstadt${n}`;
    const [a] = await crm.getAddresses([`a${i}-${j}`]);
    await crm.updateAddress(a.id, { city }, a.version);
    const href = indexes.get(users[i].login).get(`SoakU${i}A${j}`);
    let seen = false;
    while (Date.now() - started < 15_000) {
      const body = await (await fetch(href, { headers: auth(users[i]) })).text();
      if (body.includes(city)) {
        seen = true;
        break;
      }
      await sleep(50);
    }
    if (seen) latencies.push(Date.now() - started);
    else missed.push({ n, address: a.id, city });
    n++;
    if (Date.now() >= nextSample) {
      samples.push(await sample(`${((Date.now() - t0) / 60_000).toFixed(1)} min`));
      log(JSON.stringify(samples.at(-1)), `changes=${n} missed=${missed.length}`);
      nextSample += 10_000;
    }
    await sleep(Math.max(0, EVERY - (Date.now() - started)));
  }
  samples.push(await sample('end'));
  latencies.sort((x, y) => x - y);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  const afterWarm = samples[Math.min(2, samples.length - 1)];
  const summary = {
    mailboxes: N,
    addressesPerMailbox: PER_USER,
    minutes: MINUTES,
    changes: n,
    missed: missed.length,
    missedChanges: missed.slice(0, 10),
    pushLatencyMs: { p50: pct(50), p95: pct(95), max: latencies.at(-1) },
    initialSyncSeconds,
    rssMb: { afterInitialSync: samples[0].rssMb, afterWarmup: afterWarm.rssMb, end: samples.at(-1).rssMb, max: Math.max(...samples.map((s) => s.rssMb)) },
    heapUsedMb: { afterInitialSync: samples[0].heapUsedMb, afterWarmup: afterWarm.heapUsedMb, end: samples.at(-1).heapUsedMb, max: Math.max(...samples.map((s) => s.heapUsedMb)) },
    syncErrors: await metric('sync_cli_item_errors_total'),
    samples,
    node: process.version,
  };
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
} finally {
  daemon.kill('SIGTERM');
  const code = await new Promise((r) => (daemon.exitCode !== null ? r(daemon.exitCode) : daemon.once('exit', (c) => r(c))));
  log(`daemon exit code ${code}`);
  await crm.close();
  radicale.kill('SIGTERM');
  rmSync(root, { recursive: true, force: true });
}
