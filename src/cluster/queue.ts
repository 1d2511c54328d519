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

export class SyncQueue {
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
      priority: SWEEP_REASONS.has(reason) ? 0 : 1,
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
        mailboxIds.slice(i, i + 1000).map((mailboxId) => ({ name: SYNC_QUEUE, data: { mailboxId, reason } satisfies SyncJob, singletonKey: mailboxId, expireInSeconds: this.opts.expireInSeconds })),
      );
    }
  }

  /**
   * Runs `handler` for jobs, `concurrency` at a time, and acts on what it returns (JobResult).
   * A thrown MailboxLockedError counts as busy; any other thrown error fails the job (pg-boss
   * retries it with backoff, then keeps it as failed).
   */
  async work(concurrency: number, handler: (job: SyncJob) => Promise<JobResult>): Promise<void> {
    const run = async ([job]: PgBoss.Job<SyncJob>[]) => {
      if (!job) return;
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
    };
    // One pg-boss worker per slot: each fetches its next job when its last one is done.
    for (let i = 0; i < concurrency; i++) {
      await this.boss.work<SyncJob>(SYNC_QUEUE, { batchSize: 1, pollingIntervalSeconds: this.opts.pollingIntervalSeconds }, run);
    }
  }

  /** Jobs waiting (created or retry), for status and metrics. */
  depth(): Promise<number> {
    return this.boss.getQueueSize(SYNC_QUEUE, { before: 'active' });
  }

  /** Stops fetching; waits up to `timeoutMs` for running jobs when graceful. */
  async close(graceful = true, timeoutMs = 30_000): Promise<void> {
    await this.boss.stop({ graceful, wait: true, timeout: timeoutMs });
  }
}
