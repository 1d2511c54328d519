// `sync-cli crm …`: the embedded CRM and the CRM connection.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { NotImplementedError } from '../errors.js';

export function registerCrmCommands(program: Command, run: ActionRunner): void {
  const crm = program.command('crm').description('the CRM side: embedded CRM, import/export, connection');
  crm
    .command('init')
    .description('create the embedded CRM (SQLite) under --home')
    .option('--demo', 'fill it with a realistic German sample')
    .addHelpText('after', '\nExample:\n  sync-cli --home ./demo crm init --demo')
    .action((_o, cmd: Command) => run(cmd, async () => { throw new NotImplementedError('crm init'); }));
}
