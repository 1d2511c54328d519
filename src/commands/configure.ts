// `sync-cli configure`: the terminal UI for mailbox assignments (src/tui/). Needs a TTY.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { UsageError } from '../errors.js';

export function registerConfigureCommand(program: Command, run: ActionRunner): void {
  program
    .command('configure')
    .description('terminal UI to assign mailboxes to CRM users (needs a TTY)')
    .addHelpText('after', '\nExample:\n  sync-cli configure')
    .action((_o, cmd: Command) =>
      run(cmd, async (ctx) => {
        if (!process.stdin.isTTY || !process.stdout.isTTY) {
          throw new UsageError('configure needs a terminal; use `sync-cli users assign …`', 'In scripts: sync-cli users assign USER --url URL --username NAME --password-stdin (see sync-cli users assign --help).');
        }
        // A person is at this terminal: Ink would show only the final frame if it saw a CI
        // variable (it reads it when loaded), so the UI would stay blank.
        delete process.env.CI;
        delete process.env.CONTINUOUS_INTEGRATION;
        const { runConfigureUi } = await import('../tui/run.js');
        const { adminDepsFromContext } = await import('../assignments/deps.js');
        await runConfigureUi(await adminDepsFromContext(ctx), await ctx.existingState());
        return 0;
      }),
    );
}
