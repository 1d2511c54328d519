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

export function clusterJobHandler(d: ClusterJobDeps): (job: SyncJob) => Promise<JobResult> {
  const handle = runJob(d);
  return async (job) => {
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
}

function runJob(d: ClusterJobDeps): (job: SyncJob) => Promise<{ result: Exclude<JobResult, void>; counted?: 'held' | 'dropped' }> {
  return async ({ mailboxId, reason }) => {
    const m = d.config().mailboxes.find((x) => x.user === mailboxId);
    if (!m) {
      d.logger.debug(`job for ${mailboxId} (${reason}) dropped: no mailbox is assigned to this user here`);
      return { result: { kind: 'ok' }, counted: 'dropped' };
    }
    const held = await d.holds.get(mailboxId);
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
