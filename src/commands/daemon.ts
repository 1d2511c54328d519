// `sync-cli daemon`: the long-running service.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { UsageError } from '../errors.js';

export function registerDaemonCommand(program: Command, run: ActionRunner): void {
  program
    .command('daemon')
    .description('the long-running service: scheduled and pushed syncs')
    .option('--interval <seconds>', 'default sync interval in seconds (per-mailbox intervalSeconds still wins)')
    .addHelpText(
      'after',
      `
Runs until SIGTERM/SIGINT (exit 0). SIGHUP or saving config.json reloads the configuration.
One daemon per --home: a second one exits 2 and names the pid of the first.
Health, metrics and the CRM webhook: set daemon.httpPort (loopback only); see docs/operations.md.

Example:
  sync-cli daemon --interval 300 --log-format json`,
    )
    .action((o: { interval?: string }, cmd: Command) =>
      run(cmd, async (ctx) => {
        let intervalSeconds: number | undefined;
        if (o.interval !== undefined) {
          intervalSeconds = Number(o.interval);
          if (!Number.isInteger(intervalSeconds) || intervalSeconds < 10) throw new UsageError(`--interval ${o.interval} is not a whole number of seconds ≥ 10`, 'e.g. `sync-cli daemon --interval 300`');
        }
        const { runDaemonCommand } = await import('../daemon/command.js');
        return runDaemonCommand(ctx, intervalSeconds);
      }),
    );
}
