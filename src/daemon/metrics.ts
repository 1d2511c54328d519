// Prometheus metrics of the daemon (GET /metrics): syncs, items, errors and durations per
// mailbox (label = CRM login; no personal data beyond what the admin configured).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MailboxResult } from '../sync/engine.js';

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly syncs = new Counter({ name: 'sync_cli_syncs_total', help: 'Mailbox syncs by result', labelNames: ['user', 'result'], registers: [this.registry] });
  private readonly items = new Counter({
    name: 'sync_cli_items_total',
    help: 'Items written by a sync, by action (created/updated/deleted on the device, crm = CRM writes)',
    labelNames: ['user', 'action'],
    registers: [this.registry],
  });
  private readonly errors = new Counter({ name: 'sync_cli_item_errors_total', help: 'Items that failed and wait for a retry', labelNames: ['user'], registers: [this.registry] });
  private readonly conflicts = new Counter({ name: 'sync_cli_conflicts_total', help: 'Fields changed on both sides (R20)', labelNames: ['user'], registers: [this.registry] });
  private readonly duration = new Histogram({
    name: 'sync_cli_sync_duration_seconds',
    help: 'Duration of one mailbox sync',
    labelNames: ['user'],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  private readonly lastSuccess = new Gauge({ name: 'sync_cli_last_success_timestamp_seconds', help: 'Unix time of the last successful sync', labelNames: ['user'], registers: [this.registry] });
  private readonly failing = new Gauge({ name: 'sync_cli_mailbox_failed', help: '1 while the last sync of the mailbox failed', labelNames: ['user'], registers: [this.registry] });
  readonly pushes = new Counter({ name: 'sync_cli_push_triggers_total', help: 'Pushed CRM changes by source', labelNames: ['source'], registers: [this.registry] });
  readonly webhookRejected = new Counter({ name: 'sync_cli_webhook_rejected_total', help: 'Webhook requests refused, by HTTP status', labelNames: ['status'], registers: [this.registry] });
  readonly mailboxes = new Gauge({ name: 'sync_cli_mailboxes', help: 'Assigned mailboxes', registers: [this.registry] });
  // A cluster process (worker, daemon on PostgreSQL): the queue's jobs it ran (D90).
  private readonly jobs = new Counter({
    name: 'sync_cli_jobs_total',
    help: 'Queue jobs this process took, by outcome (ok, items-failed, soft, hard, busy; held = skipped after a hard failure; dropped = no mailbox here; error = the job threw, pg-boss retries it)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly jobDuration = new Histogram({
    name: 'sync_cli_job_duration_seconds',
    help: 'Duration of one queue job: the held check, the wait for a server slot and the sync',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  private readonly jobsRunning = new Gauge({ name: 'sync_cli_jobs_running', help: 'Queue jobs running in this process now', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'sync_cli_' });
  }

  record(r: MailboxResult): void {
    const user = r.login;
    this.syncs.inc({ user, result: r.state });
    this.items.inc({ user, action: 'created' }, r.created);
    this.items.inc({ user, action: 'updated' }, r.updated);
    this.items.inc({ user, action: 'deleted' }, r.deleted);
    this.items.inc({ user, action: 'crm' }, r.crmUpdates);
    this.errors.inc({ user }, r.errors.length + (r.error ? 1 : 0));
    this.conflicts.inc({ user }, r.conflicts);
    this.duration.observe({ user }, r.durationMs / 1000);
    this.failing.set({ user }, r.state === 'failed' ? 1 : 0);
    if (r.state === 'success') this.lastSuccess.set({ user }, Date.now() / 1000);
  }

  /** A queue job starts; the returned function records its end with the outcome. */
  jobStarted(): (outcome: string) => void {
    const end = this.jobDuration.startTimer();
    this.jobsRunning.inc();
    return (outcome) => {
      end();
      this.jobsRunning.dec();
      this.jobs.inc({ outcome });
    };
  }

  /** The cluster's waiting jobs, read when /metrics is scraped (one query per scrape). */
  watchQueueDepth(depth: () => Promise<number>): void {
    new Gauge({
      name: 'sync_cli_queue_jobs_waiting',
      help: 'Jobs waiting in the cluster queue (all mailboxes, all processes)',
      registers: [this.registry],
      async collect() {
        this.set(await depth().catch(() => NaN));
      },
    });
  }

  /** Drops the series of an unassigned mailbox, so label sets do not grow without bound. */
  forget(login: string): void {
    for (const m of [this.duration, this.lastSuccess, this.failing]) m.remove({ user: login });
    for (const result of ['success', 'failed']) this.syncs.remove({ user: login, result });
    for (const action of ['created', 'updated', 'deleted', 'crm']) this.items.remove({ user: login, action });
    this.errors.remove({ user: login });
    this.conflicts.remove({ user: login });
  }
}
