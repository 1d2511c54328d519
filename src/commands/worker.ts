// `sync-cli worker`: runs the cluster's sync jobs (state on PostgreSQL, docs/scale-out.md).
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { UsageError } from '../errors.js';

export function registerWorkerCommand(program: Command, run: ActionRunner): void {
  program
    .command('worker')
    .description('run sync jobs from the cluster queue (needs state.kind postgres)')
    .option('--concurrency <n>', 'mailboxes synced at once by this process (default: sync.mailboxConcurrency)')
    .addHelpText(
      'after',
      `
Takes one job per mailbox sync from the queue in the PostgreSQL state database; a sync-cli daemon
on the same state schedules them. Any number of workers may run on any host, each with a copy of
config.json and the mailbox passwords. Runs until SIGTERM/SIGINT (exit 0); running syncs get
daemon.shutdownGraceSeconds to finish. Exit 2 when the state is not on PostgreSQL.

Example:
  sync-cli state connect postgres --url postgres://sync@db.example.net:5432/sync
  sync-cli worker --concurrency 8 --log-format json`,
    )
    .action((o: { concurrency?: string }, cmd: Command) =>
      run(cmd, async (ctx) => {
        let concurrency = ctx.config().sync.mailboxConcurrency;
        if (o.concurrency !== undefined) {
          concurrency = Number(o.concurrency);
          if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new UsageError(`--concurrency ${o.concurrency} is not a whole number from 1 to 256`, 'e.g. `sync-cli worker --concurrency 8`');
        }
        const { runWorker } = await import('../cluster/worker.js');
        return runWorker(ctx, concurrency);
      }),
    );
}
