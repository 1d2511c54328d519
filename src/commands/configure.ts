// `sync-cli configure`: the terminal UI for mailbox assignments.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { NotImplementedError } from '../errors.js';

export function registerConfigureCommand(program: Command, run: ActionRunner): void {
  program
    .command('configure')
    .description('terminal UI to assign mailboxes to CRM users (needs a TTY)')
    .addHelpText('after', '\nExample:\n  sync-cli configure')
    .action((_o, cmd: Command) => run(cmd, async () => { throw new NotImplementedError('configure'); }));
}
