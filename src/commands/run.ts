// `sync-cli run --once`: one sync pass (thin: options → engine → rendering).
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { UsageError } from '../errors.js';
import { getLaunchArgv, relaunchHelps, runRelaunched, SEMI_SPACE_MB, watchRelaunchParent } from '../sync/young-generation.js';

interface RunFlags {
  once?: boolean;
  user: string[];
  dryRun?: boolean;
  full?: boolean;
  forceDelete?: boolean;
}

export function registerRunCommand(program: Command, run: ActionRunner): void {
  program
    .command('run')
    .description('one sync pass over the chosen (default: all) mailboxes')
    .option('--once', 'run one pass and exit (the daemon runs them on a schedule)')
    .option('--user <user>', 'only this CRM user (login or id); repeatable', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--dry-run', 'print the plan in plain words; write nothing')
    .option('--full', 'compare everything instead of reading only changes')
    .option('--force-delete', 'confirm a sync that deletes more than maxDeletePercent of a collection (R21)')
    .addHelpText(
      'after',
      `
Exit codes: 0 everything synced; 1 an item or mailbox failed (retried next run: server down, rate
limited, item refused) or another process was syncing a mailbox; 2 bad usage or configuration,
including a mailbox whose login or settings are wrong (the message names the mailbox and the fix).
--json prints { "mailboxes": [ { "user", "state", "created", "updated", "deleted", "crmUpdates", "conflicts",
"errors": [ { "item", "message" } ], "outcome": { "kind", "reason"?, "retryAfterSeconds"?, "remedy"? } } ] }.
With --dry-run also "plan" (the planned actions in plain words) and "arms" (per action, the rule that decided it).
--log-level debug prints each planned action with its arm on stderr.

Examples:
  sync-cli run --once
  sync-cli run --once --user mmueller --dry-run
  sync-cli run --once --json > result.json`,
    )
    .action((flags: RunFlags, cmd: Command) =>
      run(cmd, async (ctx) => {
        if (!flags.once) throw new UsageError('run needs --once', 'use `sync-cli run --once` for one pass, or `sync-cli daemon` to keep syncing');
        const [{ runSyncCommand, makesFirstSync }, { delayOptimization, limitHeapGrowth }] = await Promise.all([import('./run-impl.js'), import('../sync/v8-flags.js')]);
        delayOptimization(); // one pass: fewer optimizing compiles (D106), before most functions first run
        // A first sync on Node ≥ 22 runs in a node started with a smaller young generation (D104).
        watchRelaunchParent();
        const argv = getLaunchArgv();
        if (argv && relaunchHelps() && (await makesFirstSync(ctx, flags.user))) {
          ctx.logger.debug(`first sync: running it in a node started with --max-semi-space-size=${SEMI_SPACE_MB} (D104)`);
          const code = await runRelaunched(argv);
          if (code !== null) return code;
          ctx.logger.debug('could not start a second node: syncing in this one');
        }
        limitHeapGrowth(); // a lower heap peak for large syncs (D99): this command only, before the sync starts
        return runSyncCommand(ctx, { users: flags.user, dryRun: flags.dryRun, full: flags.full, forceDelete: flags.forceDelete });
      }),
    );
}
