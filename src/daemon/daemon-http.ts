// The daemon's loopback HTTP endpoint: status page (with its token), /healthz, /metrics and the
// webhook. Off unless daemon.httpPort is set. A secret or token that cannot be loaded switches
// only its part off, with the reason and the fix in the log.
import type { ClusterRuntime } from '../cluster/runtime.js';
import type { ClusterHolds } from '../cluster/holds.js';
import type { SyncCliError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { startDaemonHttpServer, type DaemonHttpServer } from './http-server.js';
import type { DaemonParts } from './parts.js';
import type { Scheduler } from './scheduler.js';
import { loadStatusToken, type StatusPageHandlers } from './status-page.js';
import { loadWebhookSecret, type WebhookPayload } from './webhook.js';

export interface DaemonHttpDeps extends Omit<DaemonParts, 'crm'> {
  scheduler: Scheduler;
  startedAt: number;
  stopping(): boolean;
  onWebhook(p: WebhookPayload): Promise<string[]>;
  /** On a PostgreSQL state: the cluster's queue; Sync now / Retry act on it and the shared holds (D91). */
  cluster?: ClusterRuntime;
}

/** A cluster's Sync now / Retry: the cluster-wide hold (D82) released, one job queued for any process. */
interface ClusterActions {
  holds: ClusterHolds;
  retry(userId: string): Promise<void>;
}

async function clusterActions(d: DaemonHttpDeps, runtime: ClusterRuntime): Promise<ClusterActions> {
  const [{ ClusterHolds }, { stateDatabaseUrl }] = await Promise.all([import('../cluster/holds.js'), import('../cluster/runtime.js')]);
  const config = d.config();
  const holds = new ClusterHolds(await stateDatabaseUrl(config, d.paths, d.env), config.state.schema);
  return {
    holds,
    async retry(userId) {
      await holds.release(userId);
      await runtime.queue.enqueueSync(userId, 'status page');
    },
  };
}

/** Loads a secret the endpoint needs; undefined (logged with the fix) when it cannot. */
function loadOrLog<T>(logger: Logger, off: string, load: () => T): T | undefined {
  try {
    return load();
  } catch (err) {
    const e = err as SyncCliError;
    logger.error(`${off}: ${e.message}${e.remedy ? ` (fix: ${e.remedy})` : ''}`);
    return undefined;
  }
}

function statusPageHandlers(d: DaemonHttpDeps, token: string | undefined, cluster: ClusterActions | undefined): StatusPageHandlers {
  const { state, scheduler, users, logger, metrics } = d;
  return {
    token,
    status: async () => {
      const now = Date.now();
      const statuses = new Map((await state.listStatuses()).map((x) => [x.user, x]));
      const pending = await state.pendingCounts();
      const snap = new Map(scheduler.snapshot().map((e) => [e.user, e]));
      // A cluster holds hard failures in the database, not in this daemon's schedule (D82).
      const heldInCluster = cluster ? new Set(await cluster.holds.list()) : undefined;
      return {
        daemon: { status: d.stopping() ? 'stopping' : 'ok', uptimeSeconds: Math.round((now - d.startedAt) / 1000) },
        mailboxes: d.config().mailboxes.map((m) => {
          const s = statuses.get(m.user) ?? { state: 'not-started' as const, finishedAt: null, lastSuccess: null, pending: 0, lastError: null, nextRun: null };
          const e = snap.get(m.user);
          const itemErrors = pending.get(m.user) ?? 0;
          return {
            user: users.loginOf(m.user),
            state: s.state,
            running: e?.running ?? false,
            // Due within the push debounce: pressed, pushed or about to start.
            queued: e !== undefined && !e.running && !e.held && e.dueAt.getTime() <= now + 1500,
            lastSync: s.finishedAt,
            lastSuccess: s.lastSuccess,
            pending: s.pending,
            lastError: s.lastError,
            itemErrors,
            nextRun: s.nextRun,
            ...((heldInCluster ? heldInCluster.has(m.user) : e?.held) ? { held: true } : {}),
          };
        }),
      };
    },
    syncNow: async (login) => {
      const u = users.byLogin(login);
      const m = u && d.config().mailboxes.find((mb) => mb.user === u.id);
      if (!m) return false;
      // A human pressed it: a held mailbox (hard failure) is tried again too — on a cluster its
      // hold goes and any process may take the job, leading daemon or not (D91).
      if (cluster) await cluster.retry(m.user);
      else {
        scheduler.rearm([m.user], 'status page', { force: true });
        scheduler.trigger([m.user], 'status page');
      }
      metrics.pushes.inc({ source: 'status-page' });
      logger.info(`status page: sync of ${login} queued${cluster ? ' (cluster hold released)' : ''}`);
      return true;
    },
  };
}

export async function startDaemonHttp(d: DaemonHttpDeps): Promise<DaemonHttpServer | undefined> {
  const { logger, paths, env, scheduler } = d;
  const config = d.config();
  if (config.daemon.httpPort === undefined) return undefined;
  const webhook = loadOrLog(logger, 'the webhook is disabled', () => loadWebhookSecret(config, paths, env));
  if (webhook) logger.info(webhook.created ? `webhook secret created in ${webhook.source} (copy it to the CRM side)` : `webhook secret from ${webhook.source}`);
  const status = loadOrLog(logger, "the status page's buttons are off", () => loadStatusToken(config, paths, env));
  if (status) logger.info(status.created ? `status page token created in ${status.source}` : `status page token from ${status.source}`);
  const cluster = d.cluster ? await clusterActions(d, d.cluster) : undefined;
  const http = await startDaemonHttpServer(
    config.daemon.httpPort,
    {
      metrics: d.metrics,
      webhookSecret: webhook?.secret,
      onWebhook: d.onWebhook,
      statusPage: statusPageHandlers(d, status?.token, cluster),
      health: () => {
        const snap = scheduler.snapshot();
        const failed = snap.filter((s) => s.failures > 0).map((s) => s.login);
        const stopping = d.stopping();
        return {
          ok: !stopping,
          body: { status: stopping ? 'stopping' : 'ok', pid: process.pid, uptimeSeconds: Math.round((Date.now() - d.startedAt) / 1000), mailboxes: snap.length, running: scheduler.runningCount, failed },
        };
      },
    },
    logger,
    config.daemon.http,
  );
  logger.info(`HTTP endpoint on http://127.0.0.1:${http.port} (status page /, /healthz, /metrics, POST /hooks/crm)`);
  return cluster ? { port: http.port, close: () => http.close().finally(() => cluster.holds.close()) } : http;
}
