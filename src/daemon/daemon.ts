// The long-running service: one per --home. runDaemon wires the parts and owns the lifecycle
// (start, config reloads, shutdown); each responsibility lives in its own module: when mailboxes
// run (scheduler.ts, from the typed outcome of each run, D63), one run (mailbox-runner.ts), the
// CRM's user list (crm-users.ts, D66), pushed CRM changes (push-sources.ts: change feed,
// PostgreSQL NOTIFY, webhook), the loopback HTTP endpoint (daemon-http.ts), config.json edits
// (config-watch.ts), old state (retention.ts) and systemd (sd-notify.ts).
import fs from 'node:fs';
import path from 'node:path';
import type { Paths } from '../config/paths.js';
import type { Config, MailboxConfig } from '../config/schema.js';
import { SyncCliError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { CrmProvider } from '../providers/crm/model.js';
import type { EngineDeps } from '../sync/engine.js';
import { acquireLock, MailboxLockedError, type Lock } from '../sync/lock.js';
import { openSqliteStateStore } from '../sync/state/sqlite.js';
import type { MailboxOutcome } from '../sync/outcome.js';
import type { StateStore } from '../sync/state/store.js';
import type { ClusterRuntime } from '../cluster/runtime.js';
import type { LeaderElection } from '../cluster/leader.js';
import type { AssignmentSource } from '../cluster/assignments-watch.js';
import { watchConfig, type ConfigWatcher } from './config-watch.js';
import { CrmUsersCache } from './crm-users.js';
import { startDaemonHttp } from './daemon-http.js';
import type { DaemonHttpServer } from './http-server.js';
import { MailboxRunner } from './mailbox-runner.js';
import type { DaemonParts } from './parts.js';
import { DaemonMetrics } from './metrics.js';
import { PushSources } from './push-sources.js';
import { purgeStaleState } from './retention.js';
import { Scheduler, type ScheduledMailbox } from './scheduler.js';
import { createServiceNotifier } from './sd-notify.js';

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
  /** A PostgreSQL state's shared mailbox assignments (D87): merged into every reload, watched. */
  assignments?: AssignmentSource;
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

/** Scheduled mailboxes of a config: users the CRM does not know are logged and left out. */
function scheduledMailboxes(config: Config, users: CrmUsersCache, intervalOf: (m: MailboxConfig) => number, logger: Logger): ScheduledMailbox[] {
  const out: ScheduledMailbox[] = [];
  const known = new Map(users.list().map((u) => [u.id, u]));
  for (const m of config.mailboxes) {
    const u = known.get(m.user);
    if (!u) {
      logger.error(`config.json assigns a mailbox to CRM user ${m.user}, who does not exist in the CRM; skipped (fix: \`sync-cli users unassign ${m.user}\`)`);
      continue;
    }
    out.push({ user: u.id, login: u.login, intervalSeconds: intervalOf(m) });
  }
  return out;
}

/** The due mailboxes of a leader's tick, one `enqueueSyncs` insert per reason. */
async function enqueueDue(queue: ClusterRuntime['queue'], due: { user: string; reason: string }[]): Promise<void> {
  const byReason = new Map<string, string[]>();
  for (const d of due) byReason.set(d.reason, [...(byReason.get(d.reason) ?? []), d.user]);
  for (const [reason, users] of byReason) await queue.enqueueSyncs(users, reason);
}

/** Collects the scheduler's next runs and stores them in one setStatuses per event-loop turn. */
class NextRunWriter {
  private pending = new Map<string, Date | null>();
  private scheduled = false;

  constructor(
    private readonly state: StateStore,
    private readonly logger: Logger,
  ) {}

  set(user: string, at: Date | null): void {
    this.pending.set(user, at);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const batch = new Map([...this.pending].map(([u, t]) => [u, { nextRun: t?.toISOString() ?? null }]));
      this.pending = new Map();
      this.state.setStatuses(batch).catch((err: Error) => this.logger.warn(`cannot store the next run of ${[...batch.keys()].join(', ')}: ${err.message}`));
    });
  }
}

/** Enqueueing is quick: the cluster scheduler's "runs" (enqueues) at once. */
const CLUSTER_ENQUEUE_CONCURRENCY = 32;

interface DaemonCluster {
  runtime: ClusterRuntime;
  leader?: LeaderElection;
  elect(handlers: { onLead(): void; onLose(why: string): void }): Promise<LeaderElection>;
  /** Pushes enqueue at once (coalesced per mailbox by the queue), on the leader or not. */
  pushTarget(config: () => Config): Pick<Scheduler, 'trigger'>;
}

async function openDaemonCluster(parts: DaemonParts, runner: MailboxRunner): Promise<DaemonCluster> {
  const { openClusterRuntime, stateDatabaseUrl } = await import('../cluster/runtime.js');
  const { LeaderElection } = await import('../cluster/leader.js');
  const config = parts.config();
  const url = await stateDatabaseUrl(config, parts.paths, parts.env);
  const runtime = await openClusterRuntime(parts, url, config.sync.mailboxConcurrency, runner);
  return {
    runtime,
    pushTarget: (current) => ({
      trigger(users, reason) {
        const assigned = new Set(current().mailboxes.map((m) => m.user));
        const hit = [...new Set(users)].filter((u) => assigned.has(u));
        for (const u of hit) void runtime.queue.enqueueSync(u, reason).catch((err: Error) => parts.logger.warn(`cannot enqueue the sync of ${u}: ${err.message}`));
        return hit;
      },
    }),
    async elect(handlers) {
      const leader = new LeaderElection({ url, schema: config.state.schema, ...handlers });
      leader.start();
      return leader;
    },
  };
}

export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const { paths, logger, crm } = opts;
  const env = opts.env ?? process.env;
  const daemonLock = opts.lock ?? acquireDaemonLock(paths);
  const state = opts.state ?? (await openSqliteStateStore(paths.stateDb, { lockDir: paths.lockDir }));
  const metrics = new DaemonMetrics();
  const notifier = createServiceNotifier(logger, env);
  let config = opts.config;
  let shuttingDown = false;
  const startedAt = Date.now();
  const intervalOf = (m: MailboxConfig) => m.intervalSeconds ?? opts.intervalSeconds ?? config.daemon.intervalSeconds;

  const users = new CrmUsersCache(crm, () => (opts.intervalSeconds ?? config.daemon.intervalSeconds) * 1000);
  const parts: DaemonParts = { paths, logger, crm, state, metrics, users, env, config: () => config };
  const runner = new MailboxRunner({ ...parts, engine: opts.engine });
  // On a PostgreSQL state the daemon is one process of a cluster (docs/scale-out.md): it runs
  // queued jobs like a worker, and schedules only while it leads (D80) — then the schedule and
  // the pushes enqueue jobs instead of running syncs here.
  const cluster = config.state.kind === 'postgres' ? await openDaemonCluster(parts, runner) : undefined;
  // Next runs are stored together: one write per tick, not one per mailbox (D95).
  const nextRuns = new NextRunWriter(state, logger);
  const scheduler = new Scheduler({
    concurrency: cluster ? CLUSTER_ENQUEUE_CONCURRENCY : config.sync.mailboxConcurrency,
    retrySeconds: config.daemon.retrySeconds,
    maxBackoffSeconds: config.daemon.maxBackoffSeconds,
    staggerSeconds: MAX_STAGGER_SECONDS,
    runMailbox: cluster ? (user, reason) => cluster.runtime.queue.enqueueSync(user, reason).then((): MailboxOutcome => ({ kind: 'ok' })) : (user, reason) => runner.run(user, reason),
    // The leader's tick: all due mailboxes in one queue insert per reason (D95).
    ...(cluster ? { runBatch: (due: { user: string; reason: string }[]) => enqueueDue(cluster.runtime.queue, due) } : {}),
    changedSinceHold: (user) => runner.changedSinceHold(user),
    onNextRun: (user, at) => nextRuns.set(user, at),
  });
  if (cluster) await scheduler.stop(0); // started when leading
  const push = new PushSources({ ...parts, scheduler: cluster ? cluster.pushTarget(() => config) : scheduler });

  const applyConfig = (next: Config, why: string) => {
    if (JSON.stringify(next.crm) !== JSON.stringify(config.crm)) {
      logger.warn(`${why}: the crm section changed; it takes effect after a restart (systemctl restart sync-cli)`);
    }
    const before = new Set(config.mailboxes.map((m) => m.user));
    config = next;
    void users
      .refresh()
      .catch(() => undefined)
      .then(() => {
        const { added, removed } = scheduler.setMailboxes(scheduledMailboxes(config, users, intervalOf, logger));
        for (const u of removed) {
          metrics.forget(users.loginOf(u));
          runner.forget(u);
        }
        metrics.mailboxes.set(config.mailboxes.length);
        // Held mailboxes (hard failures) check whether this edit fixed them (D63).
        const rechecked = scheduler.rearm(undefined, why);
        const changed = added.length || removed.length || [...before].some((u) => !config.mailboxes.some((m) => m.user === u));
        logger.info(
          `${why}: configuration reloaded` +
            (changed ? ` (added ${added.map((u) => users.loginOf(u)).join(', ') || 'none'}; removed ${removed.map((u) => users.loginOf(u)).join(', ') || 'none'})` : '') +
            (rechecked.length ? `; checking ${rechecked.map((u) => users.loginOf(u)).join(', ')} again` : ''),
        );
      });
  };

  const cleanups: (() => unknown)[] = [];
  let http: DaemonHttpServer | undefined;
  let configWatcher: ConfigWatcher | undefined;
  try {
    await users.refresh();
    scheduler.setMailboxes(scheduledMailboxes(config, users, intervalOf, logger));
    metrics.mailboxes.set(config.mailboxes.length);
    let retention: NodeJS.Timeout | undefined;
    const startScheduling = async () => {
      await push.init();
      await purgeStaleState(state, config, logger);
      retention = setInterval(() => void purgeStaleState(state, config, logger).catch((err: Error) => logger.warn(`retention: ${err.message}`)), RETENTION_EVERY_MS);
      push.start();
    };
    const stopScheduling = async () => {
      clearInterval(retention);
      await push.close();
    };
    cleanups.push(stopScheduling);
    if (!cluster) await startScheduling();
    http = await startDaemonHttp({ ...parts, scheduler, startedAt, stopping: () => shuttingDown, onWebhook: push.onWebhook, cluster: cluster?.runtime });
    const shared = opts.assignments;
    configWatcher = watchConfig(
      paths.configFile,
      logger,
      shared ? (next, why) => void shared.withMailboxes(next).then((c) => applyConfig(c, why), (err: Error) => logger.warn(`${why}: cannot read the shared assignments: ${err.message}`)) : applyConfig,
    );
    if (shared) cleanups.push(shared.watch(applyConfig));
    if (cluster) {
      await cluster.runtime.start();
      cluster.leader = await cluster.elect({
        onLead: () => {
          logger.info(`leading the cluster schedule (pid ${process.pid}): ${config.mailboxes.length} mailbox(es)`);
          void startScheduling()
            .then(() => {
              scheduler.start();
              // Changes between the last leader's end and now were seen by no feed: every mailbox once (D80).
              scheduler.trigger(config.mailboxes.map((m) => m.user), 'takeover');
            })
            .catch((err: Error) => logger.error(`cannot start scheduling: ${err.message}`));
        },
        onLose: (why) => {
          logger.warn(`no longer leading the cluster schedule (${why}); another daemon takes over`);
          void scheduler.stop(0);
          void stopScheduling();
        },
      });
      cleanups.push(() => cluster.leader?.close());
    } else scheduler.start();
    notifier.ready();
    cleanups.push(notifier.startWatchdog(() => !shuttingDown));
    logger.info(`daemon started (pid ${process.pid}): ${config.mailboxes.length} mailbox(es), interval ${opts.intervalSeconds ?? config.daemon.intervalSeconds} s, push every ${config.daemon.pushPollMs} ms, sd_notify ${notifier.transport}`);

    const signal = await (opts.stopSignal ?? waitForSignal());
    shuttingDown = true;
    logger.info(`${signal}: stopping; running syncs get ${config.daemon.shutdownGraceSeconds} s to finish`);
    notifier.stopping();
  } finally {
    shuttingDown = true;
    configWatcher?.close();
    for (const c of cleanups) await c();
    await http?.close();
    if (cluster) await cluster.runtime.close(config.daemon.shutdownGraceSeconds * 1000);
    await shutDown(scheduler, state, !opts.state, config, paths, logger);
    daemonLock.release();
  }
  logger.info('daemon stopped');
  return 0;
}

/** Lets running syncs finish within daemon.shutdownGraceSeconds; abandons the rest safely. */
async function shutDown(scheduler: Scheduler, state: StateStore, ownsState: boolean, config: Config, paths: Paths, logger: Logger): Promise<void> {
  const finished = await scheduler.stop(config.daemon.shutdownGraceSeconds * 1000);
  if (finished) {
    if (ownsState) await state.close();
    return;
  }
  // Safe to abandon: every write is recorded only after it succeeded (R23), so the next
  // start repeats at most the item that was in flight.
  const abandoned = scheduler.snapshot().filter((s) => s.running);
  for (const s of abandoned) await state.setStatus(s.user, { state: 'failed', lastError: 'interrupted by daemon shutdown; the next sync resumes' });
  logger.warn(`abandoned the running sync of ${abandoned.map((s) => s.login).join(', ')}; the next start converges`);
  releaseOwnLocks(paths.lockDir);
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
