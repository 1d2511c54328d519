// Push from the CRM side: the change feed polled every daemon.pushPollMs, PostgreSQL NOTIFY that
// makes the next check happen at once, and the signed webhook. Each turns changed records into
// the mailboxes they concern (affected.ts) and triggers those in the scheduler.
import { affectedUsers, type ChangedRecord } from './affected.js';
import { CrmFeedWatcher } from './crm-feed.js';
import { UnknownWebhookTargetError } from './http-server.js';
import type { DaemonParts } from './parts.js';
import { listenForCrmNotifications, type PgListener } from './pg-listen.js';
import type { Scheduler } from './scheduler.js';
import type { WebhookPayload } from './webhook.js';

/** Mailboxes named in the log line of one pushed change; the rest are counted. */
const LOGGED_TARGETS = 20;

export interface PushDeps extends DaemonParts {
  /** The scheduler, or on a cluster what enqueues the jobs at once (any daemon may get a webhook). */
  scheduler: Pick<Scheduler, 'trigger'>;
}

export class PushSources {
  private readonly feed: CrmFeedWatcher;
  private feedFailing = false;
  private timer: NodeJS.Timeout | undefined;
  private pg: PgListener | undefined;

  constructor(private readonly deps: PushDeps) {
    this.feed = new CrmFeedWatcher(deps.crm);
  }

  /** Starts at the CRM's clock (older changes are the first scheduled sync's job). */
  async init(): Promise<void> {
    await this.feed.init();
  }

  start(): void {
    const { config, paths, logger, env } = this.deps;
    const c = config();
    this.timer = setInterval(() => void this.checkFeed('crm-feed'), c.daemon.pushPollMs);
    if (c.crm.dialect === 'postgres' && c.crm.url) {
      this.pg = listenForCrmNotifications(c.crm, c.daemon.postgresChannel, paths, logger, () => void this.checkFeed('postgres-notify'), env);
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.pg?.close();
  }

  /** The webhook: named users, named records, or nothing named (every mailbox checks). */
  readonly onWebhook = async (p: WebhookPayload): Promise<string[]> => {
    const { crm, users, config, scheduler, state } = this.deps;
    const all = await users.refresh();
    const targets = new Set<string>();
    for (const want of p.users ?? []) {
      const u = all.find((x) => x.login === want || x.id === want);
      if (!u) throw new UnknownWebhookTargetError(`unknown CRM user '${want}' in "users"`);
      if (!config().mailboxes.some((m) => m.user === u.id)) throw new UnknownWebhookTargetError(`CRM user '${want}' has no mailbox assigned`);
      targets.add(u.id);
    }
    const changes: ChangedRecord[] = [];
    if (p.addresses?.length) {
      const found = new Map((await crm.getAddresses(p.addresses)).map((a) => [a.id, a]));
      for (const id of p.addresses) changes.push({ kind: 'address', id, record: found.get(id) });
    }
    if (p.activities?.length) {
      const found = new Map((await crm.getActivities(p.activities)).map((a) => [a.id, a]));
      for (const id of p.activities) changes.push({ kind: 'activity', id, record: found.get(id) });
    }
    for (const u of await affectedUsers(changes, config(), all, state)) targets.add(u);
    if (!p.users?.length && !p.addresses?.length && !p.activities?.length) for (const m of config().mailboxes) targets.add(m.user);
    return scheduler.trigger(targets, 'webhook').map((id) => users.loginOf(id));
  };

  private async checkFeed(source: string): Promise<void> {
    const { logger } = this.deps;
    try {
      const changes = await this.feed.check();
      if (this.feedFailing) logger.info('CRM change feed readable again');
      this.feedFailing = false;
      await this.push(changes, source);
    } catch (err) {
      if (!this.feedFailing) logger.warn(`cannot read the CRM change feed (${(err as Error).message}); pushed changes wait for the interval sync`);
      this.feedFailing = true;
    }
  }

  private async push(changes: ChangedRecord[], source: string): Promise<void> {
    if (!changes.length) return;
    const { scheduler, users, config, state, metrics, logger } = this.deps;
    const hit = scheduler.trigger(await affectedUsers(changes, config(), await users.current(), state), `${source}: ${changes.length} change(s)`);
    if (hit.length) {
      metrics.pushes.inc({ source });
      // A bulk change reaches thousands of mailboxes: name the first few, count the rest.
      const named = hit.slice(0, LOGGED_TARGETS).map((id) => users.loginOf(id)).join(', ');
      logger.info(`CRM change (${source}) → syncing ${named}${hit.length > LOGGED_TARGETS ? ` and ${hit.length - LOGGED_TARGETS} more mailboxes` : ''}`);
    }
  }
}
