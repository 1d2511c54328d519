// The job queue of a cluster (issue #16, D69): one job = one mailbox sync, on pg-boss 10 in the
// state database. Per mailbox at most one job waits (pg-boss policy `short`, the mailbox id as
// singletonKey: a second send while one waits is coalesced) and at most one sync runs — that is
// the state store's lease (R24), not pg-boss's: a handler that finds the mailbox leased throws
// MailboxLockedError and the job is put back behind the running sync. pg-boss 10's own
// `stately` policy would block the whole queue behind a mailbox whose sync runs (measured,
// docs/decisions.md D69), so it is not used.
import PgBoss from 'pg-boss';
import { MailboxLockedError } from '../sync/lock.js';

export const SYNC_QUEUE = 'mailbox-sync';
export const DEFAULT_QUEUE_SCHEMA = 'sync_cli_queue';

export interface SyncJob {
  mailboxId: string;
  /** Why the sync was asked for (interval, push, webhook, crm-feed, manual): logs and status. */
  reason: string;
}

export interface SyncQueueOptions {
  url: string;
  /** pg-boss's own schema (created and migrated by pg-boss at start). */
  schema?: string;
  /** A job whose worker died is retried after this long (the sync's upper bound). Default 15 min. */
  expireInSeconds?: number;
  /** How often an idle worker asks for a job. Default 1 s (pg-boss's minimum is 0.5 s). */
  pollingIntervalSeconds?: number;
  /** A job whose mailbox is leased by a running sync is put back for this long. Default 2 s. */
  leasedDelaySeconds?: number;
  /** Run pg-boss's maintenance (expiry, retention) in this process. Default true. */
  supervise?: boolean;
}

/** Jobs of a sweep over every mailbox; any other reason (a push) goes before them. */
const SWEEP_REASONS = new Set(['interval', 'start', 'takeover']);
const priorityOf = (reason: string) => (SWEEP_REASONS.has(reason) ? 0 : 1);

export type EnqueueResult = 'queued' | 'coalesced';

/**
 * What a job's sync ended with — the shape of the engine's typed mailbox outcome (D63), so the
 * handler can return it as it is. ok / items-failed: done (R22 retries the items next time);
 * busy: put back behind the running sync; soft: again after the server's delay, or pg-boss's
 * retry with backoff when it gave none; hard: not again — nothing changes until a human changes
 * the configuration, and the scheduler enqueues it then.
 */
export type JobResult =
  | void
  | { kind: 'ok' | 'items-failed' }
  | { kind: 'busy' }
  | { kind: 'soft'; message: string; retryAfterMs?: number }
  | { kind: 'hard' };

/** A soft failure without a delay from the server: pg-boss retries the job with backoff. */
export class SoftJobFailure extends Error {}

interface WorkLoop {
  stopping: boolean;
  /** Job id → its run, while it runs. */
  running: Map<string, Promise<void>>;
  /** Fetched, waiting for a free slot. */
  waiting: PgBoss.Job<SyncJob>[];
  /** Ended since the last fetch: completed with the next one. */
  done: string[];
  wake(): void;
  ended: Promise<void>;
}

export class SyncQueue {
  private loop: WorkLoop | undefined;

  private constructor(
    private readonly boss: PgBoss,
    private readonly opts: Required<Omit<SyncQueueOptions, 'url' | 'schema' | 'supervise'>>,
  ) {}

  static async open(options: SyncQueueOptions): Promise<SyncQueue> {
    const boss = new PgBoss({
      connectionString: options.url,
      schema: options.schema ?? DEFAULT_QUEUE_SCHEMA,
      supervise: options.supervise ?? true,
      application_name: `sync-cli queue ${process.pid}`,
      max: 4,
    });
    // pg-boss reports lost connections and failed polls here; it reconnects by itself.
    boss.on('error', () => undefined);
    await boss.start();
    // Several hosts starting on a fresh schema race to create the queue (pg-boss's createQueue
    // can deadlock against another's): whoever loses finds it made and goes on.
    for (let attempt = 1; !(await boss.getQueue(SYNC_QUEUE)); attempt++) {
      try {
        await boss.createQueue(SYNC_QUEUE, { name: SYNC_QUEUE, policy: 'short', retryLimit: 2, retryDelay: 5, retryBackoff: true });
      } catch (err) {
        if (attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt + Math.random() * 200));
      }
    }
    return new SyncQueue(boss, {
      expireInSeconds: options.expireInSeconds ?? 15 * 60,
      pollingIntervalSeconds: options.pollingIntervalSeconds ?? 1,
      leasedDelaySeconds: options.leasedDelaySeconds ?? 2,
    });
  }

  /** Asks for a sync of one mailbox; coalesced into the job that already waits for it. */
  async enqueueSync(mailboxId: string, reason: string, startAfterSeconds?: number): Promise<EnqueueResult> {
    const id = await this.boss.send(SYNC_QUEUE, { mailboxId, reason } satisfies SyncJob, {
      singletonKey: mailboxId,
      expireInSeconds: this.opts.expireInSeconds,
      // A push (a CRM edit, the webhook) goes before the interval's sweep waiting in the queue.
      priority: priorityOf(reason),
      ...(startAfterSeconds ? { startAfter: startAfterSeconds } : {}),
    });
    return id ? 'queued' : 'coalesced';
  }

  /**
   * Asks for a sync of many mailboxes in one statement (the scheduler's interval tick): each
   * mailbox that already has a waiting job keeps just that one.
   */
  async enqueueSyncs(mailboxIds: string[], reason: string): Promise<void> {
    for (let i = 0; i < mailboxIds.length; i += 1000) {
      await this.boss.insert(
        mailboxIds.slice(i, i + 1000).map((mailboxId) => ({ name: SYNC_QUEUE, data: { mailboxId, reason } satisfies SyncJob, singletonKey: mailboxId, expireInSeconds: this.opts.expireInSeconds, priority: priorityOf(reason) })),
      );
    }
  }

  /**
   * Runs `handler` for jobs, `concurrency` at a time, and acts on what it returns (JobResult).
   * A thrown MailboxLockedError counts as busy; any other thrown error fails the job (pg-boss
   * retries it with backoff, then keeps it as failed).
   *
   * One fetch brings up to `concurrency` jobs (D95): those that find a free slot start at once,
   * the rest wait here for the next free slot (each job still takes its mailbox's lease and its
   * server's slot when it runs). The jobs that ended since the last fetch are completed in one
   * statement with the next fetch. So a sweep costs one fetch and one complete per
   * `concurrency` jobs instead of per job; a push fetched meanwhile waits behind at most
   * `concurrency` jobs fetched before it.
   */
  async work(concurrency: number, handler: ((job: SyncJob) => Promise<JobResult>) & { fetched?(jobs: SyncJob[]): Promise<void> }): Promise<void> {
    if (this.loop) throw new Error('SyncQueue.work called twice');
    const w: WorkLoop = (this.loop = { stopping: false, running: new Map(), waiting: [], done: [], wake: () => undefined, ended: Promise.resolve() });
    const act = async (job: PgBoss.Job<SyncJob>) => {
      try {
        await this.settle(job, handler);
        w.done.push(job.id);
      } catch (err) {
        await this.boss.fail(SYNC_QUEUE, job.id, { message: (err as Error).message }).catch(() => undefined);
      }
    };
    const startWaiting = () => {
      while (!w.stopping && w.running.size < concurrency && w.waiting.length) {
        const job = w.waiting.shift()!;
        w.running.set(job.id, act(job).finally(() => {
          w.running.delete(job.id);
          startWaiting();
          w.wake();
        }));
      }
    };
    const idle = () => new Promise<void>((resolve) => {
      const t = setTimeout(resolve, this.opts.pollingIntervalSeconds * 1000);
      w.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    w.ended = (async () => {
      while (!w.stopping) {
        if (w.waiting.length || w.running.size >= concurrency) {
          await idle(); // a slot frees up
          continue;
        }
        let fetched: PgBoss.Job<SyncJob>[] = [];
        try {
          const [jobs] = await Promise.all([this.boss.fetch<SyncJob>(SYNC_QUEUE, { batchSize: concurrency }), this.flushDone().catch(() => undefined)]);
          fetched = jobs ?? [];
        } catch {
          // PostgreSQL away: pg-boss reports it on its error event; try again after the polling interval.
        }
        if (w.stopping) {
          w.waiting.push(...fetched);
          break;
        }
        // What the jobs of this batch need before they run, read once for all (the holds, D95).
        if (fetched.length && handler.fetched) await handler.fetched(fetched.map((j) => j.data)).catch(() => undefined);
        w.waiting.push(...fetched);
        startWaiting();
        if (!fetched.length) await idle();
      }
    })();
  }

  /** What one job's result asks of the queue: another job later (busy, soft with a delay), or nothing. */
  private async settle(job: PgBoss.Job<SyncJob>, handler: (job: SyncJob) => Promise<JobResult>): Promise<void> {
    let result: JobResult;
    try {
      result = await handler(job.data);
    } catch (err) {
      if (!(err instanceof MailboxLockedError)) throw err;
      result = { kind: 'busy' };
    }
    if (!result) return;
    const { mailboxId, reason } = job.data;
    switch (result.kind) {
      case 'busy':
        // Synced right now by another worker: one more run after it, so this trigger is not lost.
        await this.enqueueSync(mailboxId, reason, this.opts.leasedDelaySeconds);
        return;
      case 'soft':
        if (result.retryAfterMs === undefined) throw new SoftJobFailure(result.message);
        await this.enqueueSync(mailboxId, reason, Math.max(1, Math.ceil(result.retryAfterMs / 1000)));
        return;
      case 'ok':
      case 'items-failed':
      case 'hard':
        return;
    }
  }

  /** Completes the jobs that ended since the last call, in one statement. */
  private async flushDone(): Promise<void> {
    const w = this.loop;
    if (!w?.done.length) return;
    const ids = w.done.splice(0);
    try {
      await this.boss.complete(SYNC_QUEUE, ids);
    } catch (err) {
      w.done.unshift(...ids); // the next fetch tries again; a job left active expires and runs once more (R23)
      throw err;
    }
  }

  /** Jobs waiting (created or retry), for status and metrics. */
  depth(): Promise<number> {
    return this.boss.getQueueSize(SYNC_QUEUE, { before: 'active' });
  }

  /** Stops fetching; waits up to `timeoutMs` for running jobs when graceful. */
  async close(graceful = true, timeoutMs = 30_000): Promise<void> {
    const w = this.loop;
    if (w) {
      w.stopping = true;
      w.wake();
      await w.ended;
      // Fetched, not started: back into the queue (coalesced with a job that waits), this one done.
      const notStarted = w.waiting.splice(0);
      for (const job of notStarted) await this.enqueueSync(job.data.mailboxId, job.data.reason).catch(() => undefined);
      w.done.push(...notStarted.map((j) => j.id));
      if (graceful && w.running.size) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all(w.running.values()), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
        clearTimeout(timer);
      }
      await this.flushDone().catch(() => undefined);
      // Still running after the grace: failed, so pg-boss runs them again (R23: safe to repeat).
      for (const id of w.running.keys()) await this.boss.fail(SYNC_QUEUE, id, { message: 'the worker stopped while the sync ran' }).catch(() => undefined);
    }
    await this.boss.stop({ graceful, wait: true, timeout: timeoutMs });
  }
}
