// The long-running service: one per --home. Schedules every assigned mailbox (interval,
// stagger, bounded concurrency, backoff), reacts to pushed CRM changes (change feed, PostgreSQL
// NOTIFY, webhook), follows config.json edits, purges old state, reports to systemd and over
// the loopback HTTP endpoint, and stops cleanly on SIGTERM/SIGINT.
import fs from 'node:fs';
import path from 'node:path';
import type { Paths } from '../config/paths.js';
import type { Config, MailboxConfig } from '../config/schema.js';
import { SyncCliError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { CrmProvider, CrmUser } from '../providers/crm/model.js';
import { syncMailbox, type EngineDeps, type SyncEvent } from '../sync/engine.js';
import { acquireLock, MailboxLockedError, type Lock } from '../sync/lock.js';
import { openSqliteStateStore } from '../sync/state/sqlite.js';
import type { StateStore } from '../sync/state/store.js';
import { affectedUsers, type ChangedRecord } from './affected.js';
import { watchConfig, type ConfigWatcher } from './config-watch.js';
import { CrmFeedWatcher } from './crm-feed.js';
import { startDaemonHttpServer, UnknownWebhookTargetError, type DaemonHttpServer } from './http-server.js';
import { DaemonMetrics } from './metrics.js';
import { listenForCrmNotifications, type PgListener } from './pg-listen.js';
import { purgeStaleState } from './retention.js';
import { Scheduler, type RunOutcome, type ScheduledMailbox } from './scheduler.js';
import { createServiceNotifier } from './sd-notify.js';
import { loadStatusToken, type StatusPageHandlers } from './status-page.js';
import { loadWebhookSecret, type WebhookPayload } from './webhook.js';

export const DAEMON_LOCK_NAME = 'daemon';

export class DaemonAlreadyRunningError extends SyncCliError {
  constructor(
    readonly pid: number,
    home: string,
  ) {
    super(`another sync-cli daemon (pid ${pid}) is already running for ${home}`, {
      exitCode: 2,
      remedy: `stop it first (\`kill ${pid}\` or \`systemctl stop sync-cli\`), or give this one another --home`,
    });
  }
}

export interface DaemonOptions {
  paths: Paths;
  logger: Logger;
  /** Validated at startup by the caller (a bad config exits 2 there). */
  config: Config;
  crm: CrmProvider;
  /** `daemon --interval`: replaces daemon.intervalSeconds (not per-mailbox overrides). */
  intervalSeconds?: number;
  env?: NodeJS.ProcessEnv;
  /** Resolves when the daemon should stop; default: SIGTERM or SIGINT. */
  stopSignal?: Promise<string>;
  /** Engine dependency overrides (bench request counting). */
  engine?: Pick<EngineDeps, 'openMailbox'>;
  /** The daemon lock when the caller took it already (before opening the CRM). */
  lock?: Lock;
  /** The state store (the command's, from the context); opened here and closed at exit when absent. */
  state?: StateStore;
}

const RETENTION_EVERY_MS = 6 * 3600_000;
/** First runs after start are spread over at most this window. */
const MAX_STAGGER_SECONDS = 60;

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

/** Acquires the one-daemon-per-home lock (a pid file that a crashed daemon does not block). */
export function acquireDaemonLock(paths: Paths): Lock {
  try {
    return acquireLock(paths.lockDir, DAEMON_LOCK_NAME);
  } catch (err) {
    if (err instanceof MailboxLockedError) throw new DaemonAlreadyRunningError(err.pid, paths.dataDir);
    throw err;
  }
}

/** The pid of the daemon running for this home, if any. */
export function runningDaemonPid(paths: Paths): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(paths.lockDir, `${DAEMON_LOCK_NAME}.lock`), 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return null;
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? Number(fs.readFileSync(path.join(paths.lockDir, `${DAEMON_LOCK_NAME}.lock`), 'utf8')) : null;
  }
}

export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const { paths, logger, crm } = opts;
  const env = opts.env ?? process.env;
  const daemonLock = opts.lock ?? acquireDaemonLock(paths);
  const state = opts.state ?? (await openSqliteStateStore(paths.stateDb, { lockDir: paths.lockDir }));
  const metrics = new DaemonMetrics();
  const notifier = createServiceNotifier(logger, env);
  let config = opts.config;
  let users: CrmUser[] = [];
  let shuttingDown = false;
  const startedAt = Date.now();
  const cleanups: (() => unknown)[] = [];

  const intervalOf = (m: MailboxConfig) => m.intervalSeconds ?? opts.intervalSeconds ?? config.daemon.intervalSeconds;
  const loginOf = (id: string) => users.find((u) => u.id === id)?.login ?? id;

  const refreshUsers = async () => {
    users = await crm.listUsers();
    return users;
  };

  const scheduledMailboxes = (): ScheduledMailbox[] => {
    const out: ScheduledMailbox[] = [];
    for (const m of config.mailboxes) {
      const u = users.find((x) => x.id === m.user);
      if (!u) {
        logger.error(`config.json assigns a mailbox to CRM user ${m.user}, who does not exist in the CRM; skipped (fix: \`sync-cli users unassign ${m.user}\`)`);
        continue;
      }
      out.push({ user: u.id, login: u.login, intervalSeconds: intervalOf(m) });
    }
    return out;
  };

  const onEvent = (e: SyncEvent) => {
    if (e.type === 'phase') logger.debug(`${e.user}: ${e.phase}`);
    if (e.type === 'mailbox-done') {
      const r = e.result;
      const meta = { user: r.login, state: r.state, created: r.created, updated: r.updated, deleted: r.deleted, crmUpdates: r.crmUpdates, conflicts: r.conflicts, errors: r.errors.length, durationMs: r.durationMs };
      if (r.state === 'success') logger.info(`synced ${r.login}`, meta);
      else logger.warn(`sync of ${r.login} failed: ${r.error ?? `${r.errors.length} item(s) failed; first: ${r.errors[0]?.item}: ${r.errors[0]?.message}`}`, meta);
    }
  };

  const runMailbox = async (userId: string, reason: string): Promise<RunOutcome> => {
    const m = config.mailboxes.find((x) => x.user === userId);
    if (!m) return 'success'; // unassigned meanwhile; the scheduler drops it
    let all: CrmUser[];
    try {
      all = await refreshUsers();
    } catch (err) {
      const message = `the CRM is unreachable: ${(err as Error).message}`;
      await state.setStatus(userId, { state: 'failed', lastError: message, finishedAt: new Date().toISOString() });
      logger.warn(`sync of ${loginOf(userId)} not started: ${message}`);
      return 'failed';
    }
    const u = all.find((x) => x.id === userId);
    if (!u) {
      await state.setStatus(userId, { state: 'failed', lastError: `CRM user ${userId} no longer exists`, finishedAt: new Date().toISOString() });
      return 'failed';
    }
    logger.debug(`sync ${u.login} (${reason})`);
    const result = await syncMailbox({ config, paths, crm, state, logger, env, onEvent, ...opts.engine }, m, u, all, {});
    metrics.record(result);
    if (result.state === 'failed' && result.error && /being synced by another sync-cli process/.test(result.error)) return 'busy';
    return result.state;
  };

  const scheduler = new Scheduler({
    concurrency: config.sync.mailboxConcurrency,
    retrySeconds: config.daemon.retrySeconds,
    maxBackoffSeconds: config.daemon.maxBackoffSeconds,
    staggerSeconds: MAX_STAGGER_SECONDS,
    runMailbox,
    onNextRun: (user, at) => void state.setStatus(user, { nextRun: at.toISOString() }).catch((err: Error) => logger.warn(`cannot store the next run of ${loginOf(user)}: ${err.message}`)),
  });

  // --- push: which mailboxes a set of changed records concerns ---
  const pushChanges = async (changes: ChangedRecord[], source: string) => {
    if (!changes.length) return [];
    const hit = scheduler.trigger(await affectedUsers(changes, config, users, state), `${source}: ${changes.length} change(s)`);
    if (hit.length) {
      metrics.pushes.inc({ source });
      logger.info(`CRM change (${source}) → syncing ${hit.map(loginOf).join(', ')}`);
    }
    return hit;
  };
  const feed = new CrmFeedWatcher(crm);
  let feedFailing = false;
  const checkFeed = async (source: string) => {
    try {
      const changes = await feed.check();
      if (feedFailing) logger.info('CRM change feed readable again');
      feedFailing = false;
      await pushChanges(changes, source);
    } catch (err) {
      if (!feedFailing) logger.warn(`cannot read the CRM change feed (${(err as Error).message}); pushed changes wait for the interval sync`);
      feedFailing = true;
    }
  };

  const onWebhook = async (p: WebhookPayload): Promise<string[]> => {
    const all = await refreshUsers();
    const targets = new Set<string>();
    for (const want of p.users ?? []) {
      const u = all.find((x) => x.login === want || x.id === want);
      if (!u) throw new UnknownWebhookTargetError(`unknown CRM user '${want}' in "users"`);
      if (!config.mailboxes.some((m) => m.user === u.id)) throw new UnknownWebhookTargetError(`CRM user '${want}' has no mailbox assigned`);
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
    for (const u of await affectedUsers(changes, config, all, state)) targets.add(u);
    // Nothing named: the CRM only says "something changed" — every mailbox checks.
    if (!p.users?.length && !p.addresses?.length && !p.activities?.length) for (const m of config.mailboxes) targets.add(m.user);
    return scheduler.trigger(targets, 'webhook').map(loginOf);
  };

  const applyConfig = (next: Config, why: string) => {
    if (JSON.stringify(next.crm) !== JSON.stringify(config.crm)) {
      logger.warn(`${why}: the crm section changed; it takes effect after a restart (systemctl restart sync-cli)`);
    }
    const before = new Set(config.mailboxes.map((m) => m.user));
    config = next;
    void refreshUsers()
      .catch(() => users)
      .then(() => {
        const { added, removed } = scheduler.setMailboxes(scheduledMailboxes());
        for (const u of removed) metrics.forget(loginOf(u));
        metrics.mailboxes.set(config.mailboxes.length);
        const changed = added.length || removed.length || [...before].some((u) => !config.mailboxes.some((m) => m.user === u));
        logger.info(`${why}: configuration reloaded` + (changed ? ` (added ${added.map(loginOf).join(', ') || 'none'}; removed ${removed.map(loginOf).join(', ') || 'none'})` : ''));
      });
  };

  let http: DaemonHttpServer | undefined;
  let pg: PgListener | undefined;
  let configWatcher: ConfigWatcher | undefined;
  try {
    await refreshUsers();
    await feed.init();
    scheduler.setMailboxes(scheduledMailboxes());
    metrics.mailboxes.set(config.mailboxes.length);
    await purgeStaleState(state, config, logger);
    const retention = setInterval(() => void purgeStaleState(state, config, logger).catch((err: Error) => logger.warn(`retention: ${err.message}`)), RETENTION_EVERY_MS);
    cleanups.push(() => clearInterval(retention));

    const feedTimer = setInterval(() => void checkFeed('crm-feed'), config.daemon.pushPollMs);
    cleanups.push(() => clearInterval(feedTimer));
    if (config.crm.dialect === 'postgres' && config.crm.url) {
      pg = listenForCrmNotifications(config.crm, config.daemon.postgresChannel, paths, logger, () => void checkFeed('postgres-notify'), env);
    }
    if (config.daemon.httpPort !== undefined) {
      let webhookSecret: string | undefined;
      try {
        const s = loadWebhookSecret(config, paths, env);
        webhookSecret = s.secret;
        logger.info(s.created ? `webhook secret created in ${s.source} (copy it to the CRM side)` : `webhook secret from ${s.source}`);
      } catch (err) {
        logger.error(`the webhook is disabled: ${(err as SyncCliError).message}${(err as SyncCliError).remedy ? ` (fix: ${(err as SyncCliError).remedy})` : ''}`);
      }
      let statusToken: string | undefined;
      try {
        const t = loadStatusToken(config, paths, env);
        statusToken = t.token;
        logger.info(t.created ? `status page token created in ${t.source}` : `status page token from ${t.source}`);
      } catch (err) {
        logger.error(`the status page's buttons are off: ${(err as SyncCliError).message}${(err as SyncCliError).remedy ? ` (fix: ${(err as SyncCliError).remedy})` : ''}`);
      }
      const statusPage: StatusPageHandlers = {
        token: statusToken,
        status: async () => {
          const now = Date.now();
          const statuses = new Map((await state.listStatuses()).map((s) => [s.user, s]));
          const pending = await state.pendingCounts();
          const snap = new Map(scheduler.snapshot().map((e) => [e.user, e]));
          return {
            daemon: { status: shuttingDown ? 'stopping' : 'ok', uptimeSeconds: Math.round((now - startedAt) / 1000) },
            mailboxes: config.mailboxes.map((m) => {
              const s = statuses.get(m.user) ?? { state: 'not-started' as const, finishedAt: null, lastSuccess: null, pending: 0, lastError: null, nextRun: null };
              const e = snap.get(m.user);
              const itemErrors = pending.get(m.user) ?? 0;
              return {
                user: loginOf(m.user),
                state: s.state,
                running: e?.running ?? false,
                // Due within the push debounce: pressed, pushed or about to start.
                queued: e !== undefined && !e.running && e.dueAt.getTime() <= now + 1500,
                lastSync: s.finishedAt,
                lastSuccess: s.lastSuccess,
                pending: s.pending,
                lastError: s.lastError,
                itemErrors,
                nextRun: s.nextRun,
              };
            }),
          };
        },
        syncNow: (login) => {
          const u = users.find((x) => x.login === login);
          const m = u && config.mailboxes.find((mb) => mb.user === u.id);
          if (!m) return false;
          scheduler.trigger([m.user], 'status page');
          metrics.pushes.inc({ source: 'status-page' });
          logger.info(`status page: sync of ${login} queued`);
          return true;
        },
      };
      http = await startDaemonHttpServer(
        config.daemon.httpPort,
        {
          metrics,
          webhookSecret,
          onWebhook,
          statusPage,
          health: () => {
            const snap = scheduler.snapshot();
            const failed = snap.filter((s) => s.failures > 0).map((s) => s.login);
            return {
              ok: !shuttingDown,
              body: { status: shuttingDown ? 'stopping' : 'ok', pid: process.pid, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000), mailboxes: snap.length, running: scheduler.runningCount, failed },
            };
          },
        },
        logger,
        config.daemon.http,
      );
      logger.info(`HTTP endpoint on http://127.0.0.1:${http.port} (status page /, /healthz, /metrics, POST /hooks/crm)`);
    }
    configWatcher = watchConfig(paths.configFile, logger, applyConfig);
    scheduler.start();
    notifier.ready();
    cleanups.push(notifier.startWatchdog(() => !shuttingDown));
    logger.info(`daemon started (pid ${process.pid}): ${config.mailboxes.length} mailbox(es), interval ${opts.intervalSeconds ?? config.daemon.intervalSeconds} s, push every ${config.daemon.pushPollMs} ms, sd_notify ${notifier.transport}`);

    const signal = await (opts.stopSignal ?? waitForSignal());
    shuttingDown = true;
    logger.info(`${signal}: stopping; running syncs get ${config.daemon.shutdownGraceSeconds} s to finish`);
    notifier.stopping();
  } finally {
    shuttingDown = true;
    for (const c of cleanups) c();
    configWatcher?.close();
    await pg?.close();
    await http?.close();
    const finished = await scheduler.stop(config.daemon.shutdownGraceSeconds * 1000);
    if (!finished) {
      // Safe to abandon: every write is recorded only after it succeeded (R23), so the next
      // start repeats at most the item that was in flight.
      const abandoned = scheduler.snapshot().filter((s) => s.running);
      for (const s of abandoned) await state.setStatus(s.user, { state: 'failed', lastError: 'interrupted by daemon shutdown; the next sync resumes' });
      logger.warn(`abandoned the running sync of ${abandoned.map((s) => s.login).join(', ')}; the next start converges`);
      releaseOwnLocks(paths.lockDir);
    } else if (!opts.state) {
      await state.close();
    }
    daemonLock.release();
  }
  logger.info('daemon stopped');
  return 0;
}

/** Removes the mailbox lock files this process holds (abandoned syncs cannot release them). */
function releaseOwnLocks(dir: string): void {
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const file = path.join(dir, n);
    try {
      if (n.endsWith('.lock') && fs.readFileSync(file, 'utf8') === String(process.pid) && !n.startsWith(`${DAEMON_LOCK_NAME}.`)) fs.unlinkSync(file);
    } catch {
      /* gone meanwhile */
    }
  }
}
