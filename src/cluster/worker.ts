// `sync-cli worker`: a process that only runs sync jobs from the cluster's queue (docs/scale-out.md).
// No schedule, no push sources: the scheduling daemon enqueues, any number of workers on any host
// take jobs, `concurrency` at a time. With `--http-port` it serves /healthz and /metrics on
// 127.0.0.1 (D90, the daemon's server and metrics; no status page, no webhook). SIGTERM stops
// taking jobs and gives running syncs daemon.shutdownGraceSeconds; a sync cut short is safe to
// repeat (R23).
import type { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { CrmUsersCache } from '../daemon/crm-users.js';
import { openCrmWhenReachable } from '../daemon/command.js';
import { startDaemonHttpServer, type DaemonHttpServer } from '../daemon/http-server.js';
import { DaemonMetrics } from '../daemon/metrics.js';
import { sharedAssignments } from './assignments-watch.js';
import { openClusterRuntime, requirePostgresState, stateDatabaseUrl, type ClusterRuntime } from './runtime.js';

export interface WorkerOptions {
  concurrency: number;
  /** /healthz and /metrics on 127.0.0.1 (0: any free port, logged); off when undefined (D90). */
  httpPort?: number;
}

export async function runWorker(ctx: Context, opts: WorkerOptions, stopSignal?: Promise<string>): Promise<number> {
  const { concurrency } = opts;
  requirePostgresState(ctx.config(), '`sync-cli worker`');
  // The cluster's mailboxes (D87), re-read when another host changes them.
  const assignments = sharedAssignments(ctx);
  let config = await assignments.withMailboxes(ctx.config());
  const env = process.env;
  let signalled: (sig: string) => void = () => undefined;
  const stop = { requested: false };
  const signal = stopSignal ?? new Promise<string>((resolve) => (signalled = resolve));
  const onSignal = (sig: string) => {
    stop.requested = true;
    signalled(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const startedAt = Date.now();
  const crm = await openCrmWhenReachable(ctx, stop);
  let http: DaemonHttpServer | undefined;
  let runtime: ClusterRuntime | undefined;
  try {
    if (!crm) return 0;
    const state = await ctx.state();
    const users = new CrmUsersCache(crm, () => ctx.config().daemon.intervalSeconds * 1000);
    await users.refresh();
    const metrics = new DaemonMetrics();
    const parts = { paths: ctx.paths, logger: ctx.logger, crm, state, metrics, users, env, config: () => config };
    // The port first: one in use stops the worker before it takes a job.
    if (opts.httpPort !== undefined) {
      metrics.watchQueueDepth(() => (runtime ? runtime.queue.depth() : Promise.resolve(NaN)));
      http = await startDaemonHttpServer(
        opts.httpPort,
        {
          metrics,
          health: () => ({
            ok: !stop.requested,
            body: { status: stop.requested ? 'stopping' : 'ok', role: 'worker', pid: process.pid, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000), concurrency },
          }),
        },
        ctx.logger,
        config.daemon.http,
      ).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EADDRINUSE') throw err;
        throw new UsageError(`--http-port ${opts.httpPort}: 127.0.0.1:${opts.httpPort} is in use (another worker on this host?)`, 'give each worker on a host its own port, e.g. SYNC_CLI_WORKER_HTTP_PORT=910%i in a systemd instance');
      });
      ctx.logger.info(`HTTP endpoint on http://127.0.0.1:${http.port} (/healthz, /metrics)`);
    }
    runtime = await openClusterRuntime(parts, await stateDatabaseUrl(config, ctx.paths, env), concurrency);
    await runtime.start();
    const stopWatching = assignments.watch((next) => {
      config = next;
      metrics.mailboxes.set(next.mailboxes.length);
    });
    metrics.mailboxes.set(config.mailboxes.length);
    ctx.logger.info(`worker started (pid ${process.pid}): ${concurrency} job(s) at a time from ${state.describe}`);
    const sig = await signal;
    ctx.logger.info(`${sig}: stopping; running syncs get ${config.daemon.shutdownGraceSeconds} s to finish`);
    stopWatching();
    await runtime.close(config.daemon.shutdownGraceSeconds * 1000);
    ctx.logger.info('worker stopped');
    return 0;
  } finally {
    await http?.close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    // An abandoned sync may hold a socket open; it must not keep a stopped service alive.
    setTimeout(() => process.exit(), 2000).unref();
  }
}
