// `sync-cli worker`: runs the cluster's sync jobs (state on PostgreSQL, docs/scale-out.md).
import { Option, type Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { UsageError } from '../errors.js';

export function registerWorkerCommand(program: Command, run: ActionRunner): void {
  program
    .command('worker')
    .description('run sync jobs from the cluster queue (needs state.kind postgres)')
    .option('--concurrency <n>', 'mailboxes synced at once by this process (default: sync.mailboxConcurrency)')
    .addOption(new Option('--http-port <port>', 'serve /healthz and /metrics (Prometheus) on 127.0.0.1:PORT; 0 = any free port, named in the log').env('SYNC_CLI_WORKER_HTTP_PORT'))
    .addHelpText(
      'after',
      `
Takes one job per mailbox sync from the queue in the PostgreSQL state database; a sync-cli daemon
on the same state schedules them. Any number of workers may run on any host, each with a copy of
config.json and the mailbox passwords. Runs until SIGTERM/SIGINT (exit 0); running syncs get
daemon.shutdownGraceSeconds to finish. Exit 2 when the state is not on PostgreSQL.

--http-port (or env SYNC_CLI_WORKER_HTTP_PORT, e.g. one per systemd instance) opens this worker's
own /metrics: syncs and jobs by outcome, job durations, jobs running, the queue's waiting jobs;
and /healthz (503 while stopping). Loopback only, with the limits of daemon.http; no status
page and no webhook (those are the daemon's).

Example:
  sync-cli state connect postgres --url postgres://sync@db.example.net:5432/sync
  sync-cli worker --concurrency 8 --log-format json
  sync-cli worker --concurrency 8 --http-port 9101
  curl -s http://127.0.0.1:9101/metrics | grep sync_cli_jobs_total      # from another shell`,
    )
    .action((o: { concurrency?: string; httpPort?: string }, cmd: Command) =>
      run(cmd, async (ctx) => {
        let concurrency = ctx.config().sync.mailboxConcurrency;
        if (o.concurrency !== undefined) {
          concurrency = Number(o.concurrency);
          if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new UsageError(`--concurrency ${o.concurrency} is not a whole number from 1 to 256`, 'e.g. `sync-cli worker --concurrency 8`');
        }
        let httpPort: number | undefined;
        // An empty SYNC_CLI_WORKER_HTTP_PORT leaves the port off.
        if (o.httpPort !== undefined && o.httpPort !== '') {
          httpPort = Number(o.httpPort);
          if (!/^\d+$/.test(o.httpPort) || httpPort > 65535) throw new UsageError(`--http-port ${o.httpPort} is not a port number from 0 to 65535`, 'e.g. `sync-cli worker --http-port 9101` (0: any free port)');
        }
        const { runWorker } = await import('../cluster/worker.js');
        return runWorker(ctx, { concurrency, httpPort });
      }),
    );
}
