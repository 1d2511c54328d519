// `sync-cli status`: per-mailbox state.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';

export function registerStatusCommand(program: Command, run: ActionRunner): void {
  program
    .command('status')
    .description('per mailbox: state, last success, last error, pending changes, next run')
    .addHelpText(
      'after',
      `
Works while the daemon runs (from another process). Exit 0 when no mailbox is failed, 1 otherwise.
--json prints { "mailboxes": [ { "user", "state", "lastSuccess", "lastError", "pending", "nextRun", "attention": [ { "href", "message" } ] } ] },
state one of not-started | in-progress | success | failed. With the state on PostgreSQL (a
cluster) it adds "cluster": { "queueDepth", "running": [ { "user", "host", "pid" } ] }.

Example:
  sync-cli status --json`,
    )
    .action((_o, cmd: Command) =>
      run(cmd, async (ctx) => {
        const { buildStatus, statusTable } = await import('../daemon/status.js');
        const { runningDaemonPid } = await import('../daemon/daemon.js');
        const { configWithMailboxes } = await import('../context.js');
        const config = await configWithMailboxes(ctx); // a PostgreSQL state: the cluster's mailboxes (D87)
        let users = null;
        try {
          users = await (await ctx.crm()).listUsers();
        } catch (err) {
          ctx.logger.warn(`CRM not reachable (${(err as Error).message}); showing user ids instead of logins`);
        }
        // No state store yet (nothing ever synced): report without creating one.
        const state = await ctx.existingState();
        {
          const pid = runningDaemonPid(ctx.paths);
          const cluster = config.state.kind === 'postgres';
          const doc = await buildStatus(config, state, users, { daemonRunning: cluster || (pid !== null && pid !== undefined) });
          if (cluster) {
            const { clusterStatus } = await import('../cluster/placement.js');
            const login = (id: string) => users?.find((u) => u.id === id)?.login ?? id;
            doc.cluster = await clusterStatus(ctx, login);
          }
          if (ctx.out.isJson) ctx.out.json(doc);
          else {
            ctx.out.line(pid ? `daemon: running (pid ${pid})` : 'daemon: not running (nothing runs on its own: sync-cli daemon, or sync-cli service install)');
            if (pid && config.daemon.httpPort) ctx.out.line(`status page: http://127.0.0.1:${config.daemon.httpPort}/ (Sync now / Retry need the token in the status-token file)`);
            if (!doc.mailboxes.length) ctx.out.line('No mailbox is assigned yet: see `sync-cli users assign --help`.');
            else for (const l of statusTable(doc, Date.now(), Boolean(pid))) ctx.out.line(l);
          }
          return doc.mailboxes.some((m) => m.state === 'failed') ? 1 : 0;
        }
      }),
    );
}
