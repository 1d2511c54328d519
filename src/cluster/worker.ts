// `sync-cli worker`: a process that only runs sync jobs from the cluster's queue (docs/scale-out.md).
// No schedule, no push sources, no HTTP port (D84): the scheduling daemon enqueues, any number
// of workers on any host take jobs, `concurrency` at a time. SIGTERM stops taking jobs and gives
// running syncs daemon.shutdownGraceSeconds; a sync cut short is safe to repeat (R23).
import type { Context } from '../context.js';
import { CrmUsersCache } from '../daemon/crm-users.js';
import { openCrmWhenReachable } from '../daemon/command.js';
import { DaemonMetrics } from '../daemon/metrics.js';
import { sharedAssignments } from './assignments-watch.js';
import { openClusterRuntime, requirePostgresState, stateDatabaseUrl } from './runtime.js';

export async function runWorker(ctx: Context, concurrency: number, stopSignal?: Promise<string>): Promise<number> {
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
  const crm = await openCrmWhenReachable(ctx, stop);
  try {
    if (!crm) return 0;
    const state = await ctx.state();
    const users = new CrmUsersCache(crm, () => ctx.config().daemon.intervalSeconds * 1000);
    await users.refresh();
    const parts = { paths: ctx.paths, logger: ctx.logger, crm, state, metrics: new DaemonMetrics(), users, env, config: () => config };
    const runtime = await openClusterRuntime(parts, await stateDatabaseUrl(config, ctx.paths, env), concurrency);
    await runtime.start();
    const stopWatching = assignments.watch((next) => (config = next));
    ctx.logger.info(`worker started (pid ${process.pid}): ${concurrency} job(s) at a time from ${state.describe}`);
    const sig = await signal;
    ctx.logger.info(`${sig}: stopping; running syncs get ${config.daemon.shutdownGraceSeconds} s to finish`);
    stopWatching();
    await runtime.close(config.daemon.shutdownGraceSeconds * 1000);
    ctx.logger.info('worker stopped');
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    // An abandoned sync may hold a socket open; it must not keep a stopped service alive.
    setTimeout(() => process.exit(), 2000).unref();
  }
}
