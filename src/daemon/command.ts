// The body of `sync-cli daemon`, loaded only when the command runs.
import type { Context } from '../context.js';
import { CrmUnavailableError } from '../errors.js';
import { openCrmProvider } from '../providers/crm/index.js';
import type { CrmProvider } from '../providers/crm/model.js';
import { sharedAssignments } from '../cluster/assignments-watch.js';
import { acquireDaemonLock, runDaemon } from './daemon.js';

/** Waits for the CRM at startup instead of exiting: a service may start before its database. */
export async function openCrmWhenReachable(ctx: Context, stop: { requested: boolean }): Promise<CrmProvider | null> {
  let delay = 2000;
  for (;;) {
    try {
      return await openCrmProvider(ctx.config().crm, ctx.paths);
    } catch (err) {
      if (!(err instanceof CrmUnavailableError) || ctx.config().crm.dialect === 'sqlite') throw err;
      ctx.logger.warn(`${err.message}; retrying in ${delay / 1000} s${err.remedy ? ` (fix: ${err.remedy})` : ''}`);
      await new Promise((r) => setTimeout(r, delay));
      if (stop.requested) return null;
      delay = Math.min(delay * 2, 60_000);
    }
  }
}

export async function runDaemonCommand(ctx: Context, intervalSeconds?: number): Promise<number> {
  const fileConfig = ctx.config(); // invalid at startup → exit 2 (cli.ts)
  const lock = acquireDaemonLock(ctx.paths); // before anything slow: a second daemon exits 2 at once
  const stop = { requested: false };
  let signalled: (sig: string) => void = () => undefined;
  const stopSignal = new Promise<string>((resolve) => (signalled = resolve));
  const onSignal = (sig: string) => {
    stop.requested = true;
    signalled(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let crm: CrmProvider | null = null;
  try {
    crm = await openCrmWhenReachable(ctx, stop);
    if (!crm) return 0;
    // On a PostgreSQL state the mailboxes are the cluster's (D87), read from and watched in the database.
    const assignments = fileConfig.state.kind === 'postgres' ? sharedAssignments(ctx) : undefined;
    const config = assignments ? await assignments.withMailboxes(fileConfig) : fileConfig;
    return await runDaemon({ paths: ctx.paths, logger: ctx.logger, config, crm, intervalSeconds, stopSignal, lock, state: await ctx.state(), assignments });
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    lock.release();
    await crm?.close().catch(() => undefined);
    // An abandoned sync may hold a socket open; it must not keep a stopped service alive.
    setTimeout(() => process.exit(), 2000).unref();
  }
}
