// One queued job as a worker (or a cluster daemon) runs it: the mailbox's sync through the
// daemon's MailboxRunner (the engine, the cached CRM users, logs, metrics) inside one slot of its
// server (D81), a hard failure held cluster-wide until the settings change (D82), and the typed
// outcome handed back to the queue (retry after the server's delay, back behind a running sync).
import type { Config } from '../config/schema.js';
import type { MailboxRunner } from '../daemon/mailbox-runner.js';
import type { DaemonMetrics } from '../daemon/metrics.js';
import type { Logger } from '../log/logger.js';
import type { ClusterHolds } from './holds.js';
import type { JobResult, SyncJob } from './queue.js';
import type { ServerSlots } from './server-slots.js';

export interface ClusterJobDeps {
  runner: MailboxRunner;
  holds: ClusterHolds;
  slots: ServerSlots;
  logger: Logger;
  config(): Config;
  /** Counts the jobs by outcome and their durations (/metrics, D90). */
  metrics?: Pick<DaemonMetrics, 'jobStarted'>;
}

export interface ClusterJobHandler {
  (job: SyncJob): Promise<JobResult>;
  /** A fetched batch: the holds of all its mailboxes in one query, used when each job runs (D95). */
  fetched(jobs: SyncJob[]): Promise<void>;
}

type JobRun = { result: Exclude<JobResult, void>; counted?: 'held' | 'dropped' };

export function clusterJobHandler(d: ClusterJobDeps): ClusterJobHandler {
  /** Mailbox → its hold (or null: none) as read with its fetched batch; taken by the job's run. */
  const prefetched = new Map<string, string | null>();
  const handle = runJob(d, prefetched);
  const handler = async (job: SyncJob): Promise<JobResult> => {
    const done = d.metrics?.jobStarted();
    let outcome = 'error'; // thrown: pg-boss retries it
    try {
      const r = await handle(job);
      outcome = r.counted ?? r.result.kind;
      return r.result;
    } finally {
      done?.(outcome);
    }
  };
  return Object.assign(handler, {
    async fetched(jobs: SyncJob[]) {
      const ids = jobs.map((j) => j.mailboxId);
      const held = await d.holds.getMany(ids).catch(() => null); // unreadable now: each job asks for itself
      if (held) for (const id of ids) prefetched.set(id, held.get(id) ?? null);
    },
  });
}

function runJob(d: ClusterJobDeps, prefetched: Map<string, string | null>): (job: SyncJob) => Promise<JobRun> {
  const holdOf = async (mailboxId: string) => {
    const known = prefetched.get(mailboxId);
    prefetched.delete(mailboxId);
    return known !== undefined ? known : d.holds.get(mailboxId);
  };
  return async ({ mailboxId, reason }) => {
    const m = d.config().mailboxes.find((x) => x.user === mailboxId);
    if (!m) {
      prefetched.delete(mailboxId);
      d.logger.debug(`job for ${mailboxId} (${reason}) dropped: no mailbox is assigned to this user here`);
      return { result: { kind: 'ok' }, counted: 'dropped' };
    }
    const held = await holdOf(mailboxId);
    if (held !== null) {
      if (held === (await d.runner.fingerprint(m))) {
        d.logger.debug(`${mailboxId}: held after a hard failure, settings unchanged; not synced (${reason})`);
        return { result: { kind: 'hard' }, counted: 'held' };
      }
      await d.holds.release(mailboxId);
    }
    const slot = await d.slots.acquire(m.url, d.config().dav.concurrency);
    let outcome;
    try {
      outcome = await d.runner.run(mailboxId, reason);
    } finally {
      await slot.release();
    }
    if (outcome.kind === 'hard') await d.holds.hold(mailboxId, await d.runner.fingerprint(m));
    return { result: outcome };
  };
}
