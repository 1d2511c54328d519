// The cluster's job queue (src/cluster/queue.ts) on the real PostgreSQL with real worker
// processes: pushes coalesce into one waiting job per mailbox, two workers never sync one
// mailbox at once (R24, from the runs they record), and a worker killed with SIGKILL in the
// middle of a sync loses the mailbox to another worker within seconds.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyncQueue, type JobResult } from '../../src/cluster/queue.js';
import { MailboxLockedError } from '../../src/sync/lock.js';
import { PostgresStateStore } from '../../src/sync/state/postgres.js';

const URL_ = 'postgres://postgres@127.0.0.1:5432/test';
const admin = new pg.Pool({ connectionString: URL_, max: 2 });
const reachable = await admin.query('select 1').then(() => null, (err: Error) => err.message || 'unreachable');
if (reachable) console.warn(`skipping the queue tests: PostgreSQL not reachable (${reachable})`);

const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
const stateSchema = `qstate_${tag}`;
const queueSchema = `qboss_${tag}`;
const workerFile = path.resolve('node_modules/.cache/sync-cli-test', `queue-worker-${tag}.mjs`);

interface Worker {
  child: ChildProcess;
  out: string;
}
const workers: Worker[] = [];

function startWorker(): Promise<Worker> {
  const child = spawn(process.execPath, [workerFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TEST_PG_URL: URL_, TEST_STATE_SCHEMA: stateSchema, TEST_QUEUE_SCHEMA: queueSchema, TEST_CONCURRENCY: '2' },
  });
  const w: Worker = { child, out: '' };
  workers.push(w);
  child.stdout!.on('data', (d: Buffer) => (w.out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (w.out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (w.out.includes('ready')) {
        clearInterval(timer);
        resolve(w);
      }
      if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`worker exited: ${w.out}`));
      }
    }, 50);
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Run {
  mailbox: string;
  reason: string;
  pid: number;
  started: Date;
  ended: Date | null;
}
const runs = async (mailbox?: string) =>
  (await admin.query<Run>(`SELECT mailbox, reason, pid, started, ended FROM ${stateSchema}.test_run ${mailbox ? 'WHERE mailbox = $1' : ''} ORDER BY started`, mailbox ? [mailbox] : [])).rows;

describe.skipIf(reachable !== null)('cluster queue on pg-boss 10', () => {
  let queue: SyncQueue;
  beforeAll(async () => {
    await build({ entryPoints: ['test/cluster/queue-worker.ts'], outfile: workerFile, bundle: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external', logLevel: 'warning' });
    (await PostgresStateStore.open({ url: URL_, schema: stateSchema })).close();
    await admin.query(`CREATE TABLE ${stateSchema}.test_run (id serial PRIMARY KEY, mailbox text, reason text, pid int, started timestamptz DEFAULT clock_timestamp(), ended timestamptz)`);
    queue = await SyncQueue.open({ url: URL_, schema: queueSchema, supervise: false });
  }, 60_000);
  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await queue?.close(false);
    await admin.query(`DROP SCHEMA IF EXISTS ${stateSchema} CASCADE`);
    await admin.query(`DROP SCHEMA IF EXISTS ${queueSchema} CASCADE`);
    await admin.end();
    fs.rmSync(workerFile, { force: true });
  });

  it('R24: a second push for a mailbox while one waits is coalesced into it', async () => {
    expect(await queue.enqueueSync('coalesce-1', 'push')).toBe('queued');
    expect(await queue.enqueueSync('coalesce-1', 'push')).toBe('coalesced');
    expect(await queue.enqueueSync('coalesce-1', 'interval')).toBe('coalesced');
    expect(await queue.enqueueSync('coalesce-2', 'push')).toBe('queued');
    expect(await queue.depth()).toBe(2);
    // The interval tick: many at once, the ones already waiting not twice.
    await queue.enqueueSyncs(['coalesce-1', 'coalesce-2', 'coalesce-3', 'coalesce-3'], 'interval');
    expect(await queue.depth()).toBe(3);
  });

  it('R22: the outcome decides the next run: soft after the server\'s delay, hard never, busy after the running sync', async () => {
    const seen: Record<string, number[]> = {};
    const outcome: Record<string, () => JobResult> = {
      'soft-1': () => ((seen['soft-1']?.length ?? 0) === 1 ? { kind: 'soft', message: '429', retryAfterMs: 1500 } : { kind: 'ok' }),
      'hard-1': () => ({ kind: 'hard' }),
      'busy-1': () => ((seen['busy-1']?.length ?? 0) === 1 ? { kind: 'busy' } : { kind: 'ok' }),
    };
    const local = await SyncQueue.open({ url: URL_, schema: queueSchema, pollingIntervalSeconds: 0.5, leasedDelaySeconds: 0.5, supervise: false });
    try {
      await local.work(2, async (job) => {
        if (!(job.mailboxId in outcome)) throw new MailboxLockedError(job.mailboxId, 0); // not this test's: leave it
        (seen[job.mailboxId] ??= []).push(Date.now());
        return outcome[job.mailboxId]!();
      });
      await local.enqueueSyncs(Object.keys(outcome), 'interval');
      await until('the soft and the busy mailbox to run twice', async () => seen['soft-1']?.length === 2 && seen['busy-1']?.length === 2, 15_000);
      await new Promise((r) => setTimeout(r, 1500));
      expect(seen['hard-1']).toHaveLength(1);
      expect(seen['soft-1']![1]! - seen['soft-1']![0]!).toBeGreaterThanOrEqual(1400);
      expect(seen['soft-1']).toHaveLength(2);
    } finally {
      await local.close(false);
    }
    // Jobs of other tests that this worker put back are still waiting for them.
  }, 30_000);

  it('R24: two worker processes sync every mailbox and never one mailbox twice at once', async () => {
    await Promise.all([startWorker(), startWorker()]);
    const mailboxes = Array.from({ length: 12 }, (_v, i) => `m-${i}:ü`);
    for (const m of mailboxes) await queue.enqueueSync(m, 'interval');
    // Pushes while those run: each mailbox gets at most one more run, none overlaps another.
    await new Promise((r) => setTimeout(r, 300));
    for (let k = 0; k < 3; k++) for (const m of mailboxes) await queue.enqueueSync(m, 'push');
    await until('every mailbox synced and the queue empty', async () => {
      const done = new Set((await runs()).filter((r) => r.ended).map((r) => r.mailbox));
      return mailboxes.every((m) => done.has(m)) && (await queue.depth()) === 0 && (await runs()).every((r) => r.ended);
    }, 30_000);
    const all = (await runs()).filter((r) => mailboxes.includes(r.mailbox));
    for (const m of mailboxes) {
      const mine = all.filter((r) => r.mailbox === m);
      expect(mine.length).toBeGreaterThanOrEqual(1);
      expect(mine.length).toBeLessThanOrEqual(3); // the first run, at most one coalesced push, at most one put back
      for (let i = 1; i < mine.length; i++) expect(mine[i]!.started.getTime()).toBeGreaterThanOrEqual(mine[i - 1]!.ended!.getTime());
    }
    // Both processes took work.
    expect(new Set(all.map((r) => r.pid)).size).toBe(2);
  }, 60_000);

  it('R24: a worker killed with SIGKILL mid-sync loses the mailbox to another worker within seconds', async () => {
    await queue.enqueueSync('victim', 'slow');
    const started = await until('the slow sync to start', async () => (await runs('victim'))[0], 15_000);
    const holder = workers.find((w) => w.child.pid === started.pid)!;
    // While the holder lives, a push for the mailbox is only put back, never run beside it.
    await queue.enqueueSync('victim', 'push');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await runs('victim')).length).toBe(1);
    const t0 = Date.now();
    holder.child.kill('SIGKILL');
    const taken = await until('another worker to sync the mailbox', async () => (await runs('victim')).find((r) => r.pid !== started.pid && r.ended), 10_000);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(taken.reason).toBe('push');
  }, 60_000);
});
