// A cluster seen over HTTP, as an operator sees it: a `sync-cli worker --http-port 0` serves its
// own /metrics and /healthz (D90), and the daemon's status page "Retry" on a mailbox held
// cluster-wide after a hard failure releases that hold and syncs it (D91). The built CLI, real
// PostgreSQL (the state in its own schema, dropped after), a PostgreSQL CRM and one Radicale.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyncQueue } from '../../src/cluster/queue.js';
import { resolvePaths } from '../../src/config/paths.js';
import { storeMailboxPassword } from '../../src/secrets/index.js';
import { PostgresStateStore } from '../../src/sync/state/postgres.js';
import { postgresTarget } from '../crm/databases.js';
import { runCli } from '../helpers/cli.js';
import { Scenario } from '../helpers/scenario.js';
import { freePort } from '../helpers/servers.js';
import { DaemonProcess, waitFor } from '../daemon/daemon-process.js';

const STATE_URL = `postgres://${process.env.PGUSER ?? 'postgres'}@127.0.0.1:5432/test`;
const schema = `wh_feat_${process.pid}_${randomBytes(3).toString('hex')}`;
const WRONG = 'a-wrong-password';
const skip = postgresTarget.unavailable;
if (skip) console.warn(`skipping the worker HTTP tests: ${skip}`);

/** One Prometheus sample's value ("name{labels}" exactly as rendered), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.skipIf(Boolean(skip))('a cluster over HTTP: the worker\'s /metrics, the status page\'s Retry', () => {
  let sc: Scenario;
  let admin: pg.Pool;
  let queue: SyncQueue;
  let store: PostgresStateStore;
  const procs: DaemonProcess[] = [];
  let daemonPort = 0;

  beforeAll(async () => {
    sc = await Scenario.create({ crm: 'postgres' });
    daemonPort = await freePort();
    sc.setConfig((c) => {
      // Nothing runs by itself in this test: every job is one the test (or the page) asked for.
      Object.assign(c.daemon, { httpPort: daemonPort, intervalSeconds: 3600, retrySeconds: 3600, maxBackoffSeconds: 3600, shutdownGraceSeconds: 3 });
      c.dav.retries = 0;
      c.dav.timeoutMs = 5000;
    });
    // sschmidt's stored password is wrong: the first sync fails hard and is held (D82).
    await storeMailboxPassword(sc.config().mailboxes.find((m) => m.user === 'u2')!, WRONG, sc.paths);
    const moved = runCli(['--home', sc.home, 'state', 'connect', 'postgres', '--url', STATE_URL, '--schema', schema], { env: { SYNC_CLI_CLUSTER_KEY: '', CREDENTIALS_DIRECTORY: '' } });
    expect(moved.code, moved.stdout + moved.stderr).toBe(0);
    admin = new pg.Pool({ connectionString: STATE_URL, max: 2 });
    store = await PostgresStateStore.open({ url: STATE_URL, schema });
    queue = await SyncQueue.open({ url: STATE_URL, schema: `${schema}_queue`, supervise: false });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGTERM', 10_000)));
    await queue?.close(false);
    await store?.close();
    for (const s of [schema, `${schema}_queue`, `${schema}_cluster`]) await admin?.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
    await admin?.end();
    await sc?.stop();
  });

  it('D90: worker --http-port: /metrics counts the syncs and jobs by outcome (a held job too) and the queue; /healthz names the worker; no webhook', async () => {
    const w = DaemonProcess.start(sc.home, ['--concurrency', '2', '--http-port', '0'], {}, 'worker');
    procs.push(w);
    const port = Number(/http:\/\/127\.0\.0\.1:(\d+)/.exec((await w.waitForLog(/^HTTP endpoint on /)).message)![1]);
    await w.waitForLog(/^worker started/);
    await queue.enqueueSync('u1', 'test');
    await queue.enqueueSync('u2', 'test');
    await w.waitForLog(/^synced mmueller/, 30_000);
    await w.waitForLog(/^sync of sschmidt failed/, 30_000);
    // Its next job ends without a request: held until its settings change.
    await queue.enqueueSync('u2', 'test');
    await w.waitForLog(/^u2: held after a hard failure/, 15_000);

    const url = `http://127.0.0.1:${port}`;
    let text = '';
    await waitFor(async () => sample((text = await (await fetch(`${url}/metrics`)).text()), 'sync_cli_jobs_total{outcome="held"}') === 1, 10_000, () => `the held job on /metrics:\n${text}`);
    expect(sample(text, 'sync_cli_syncs_total{user="mmueller",result="success"}')).toBe(1);
    expect(sample(text, 'sync_cli_syncs_total{user="sschmidt",result="failed"}')).toBe(1);
    expect(sample(text, 'sync_cli_jobs_total{outcome="ok"}')).toBe(1);
    expect(sample(text, 'sync_cli_jobs_total{outcome="hard"}')).toBe(1);
    expect(sample(text, 'sync_cli_job_duration_seconds_count')).toBe(3);
    expect(sample(text, 'sync_cli_jobs_running')).toBe(0);
    expect(sample(text, 'sync_cli_queue_jobs_waiting')).toBe(0);
    expect(sample(text, 'sync_cli_mailboxes')).toBe(2);
    expect(sample(text, 'sync_cli_items_total{user="mmueller",action="created"}')).toBeGreaterThan(0);

    // What one scrape costs (the queue depth is one query at scrape time), printed for the record.
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) await (await fetch(`${url}/metrics`)).text();
    console.info(`worker /metrics: ${((performance.now() - t0) / 20).toFixed(1)} ms per scrape (20 scrapes, ${text.length} bytes)`);

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', role: 'worker', pid: w.pid, concurrency: 2 });
    // A worker's port has no webhook and no status page: those are the daemon's.
    expect((await fetch(`${url}/hooks/crm`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await fetch(`${url}/`)).status).toBe(404);
    expect(w.output()).not.toContain(sc.passwords.mmueller!);
  }, 90_000);

  it('D91: the status page on a cluster shows the cluster hold; Retry releases it and the mailbox syncs (fixed on the server, settings unchanged)', async () => {
    const d = DaemonProcess.start(sc.home);
    procs.push(d);
    await d.waitForLog(/^leading the cluster schedule/, 30_000);
    const url = `http://127.0.0.1:${daemonPort}`;
    const token = fs.readFileSync(path.join(resolvePaths(sc.home).dataDir, 'status-token'), 'utf8').trim();
    type Doc = { mailboxes: { user: string; state: string; held?: boolean; lastError: string | null }[] };
    const status = async () => ((await (await fetch(`${url}/api/status`)).json()) as Doc).mailboxes.find((m) => m.user === 'sschmidt')!;
    expect(await status()).toMatchObject({ state: 'failed', held: true });

    // The admin fixes the account on the server (the password sync-cli has is now right there):
    // nothing in sync-cli's settings changed, so the hold stays — the takeover sweep's job too.
    const users = path.join(sc.server.dataDir, 'users');
    const line = spawnSync('htpasswd', ['-nbm', sc.usernames.sschmidt!, WRONG], { encoding: 'utf8' });
    const entry = line.status === 0 ? line.stdout.trim() : `${sc.usernames.sschmidt}:${WRONG}`;
    fs.writeFileSync(users, fs.readFileSync(users, 'utf8').split('\n').map((l) => (l.startsWith(`${sc.usernames.sschmidt}:`) ? entry : l)).join('\n'));
    const skipped = () => procs.flatMap((p) => p.logs()).filter((l) => l.message.startsWith('u2: held after a hard failure')).length;
    const before = skipped();
    await queue.enqueueSync('u2', 'test');
    await waitFor(() => skipped() > before, 15_000, () => 'the held job skipped');
    expect(await status()).toMatchObject({ state: 'failed', held: true });

    const retry = await fetch(`${url}/api/mailboxes/sschmidt/sync`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    expect(retry.status).toBe(202);
    expect(await retry.json()).toEqual({ queued: ['sschmidt'] });
    await waitFor(async () => (await store.getStatus('u2')).state === 'success', 30_000, () => `sschmidt synced after Retry; logs:\n${procs.map((p) => p.output().slice(-2000)).join('\n---\n')}`);
    const { rows } = await admin.query(`SELECT mailbox FROM "${schema}_cluster".held`);
    expect(rows).toEqual([]);
    const after = await status();
    expect(after.state).toBe('success');
    expect(after.held).toBeUndefined();
    expect(d.logs().some((l) => l.message === 'status page: sync of sschmidt queued (cluster hold released)')).toBe(true);
    // Unknown mailbox: 404, nothing queued.
    expect((await fetch(`${url}/api/mailboxes/nobody/sync`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } })).status).toBe(404);
  }, 90_000);
});
