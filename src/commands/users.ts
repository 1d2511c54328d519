// `sync-cli users list|assign|unassign`: mailbox assignments for scripts.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { NotImplementedError } from '../errors.js';

export function registerUsersCommands(program: Command, run: ActionRunner): void {
  const users = program.command('users').description('CRM users and their mailbox assignments');
  users
    .command('list')
    .description('CRM users with their mailbox assignment and sync settings')
    .addHelpText('after', '\nExample:\n  sync-cli users list --json')
    .action((_o, cmd: Command) => run(cmd, async () => { throw new NotImplementedError('users list'); }));
}
