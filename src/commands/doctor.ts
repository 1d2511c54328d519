// `sync-cli doctor`: checks and fixes.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { NotImplementedError } from '../errors.js';

export function registerDoctorCommand(program: Command, run: ActionRunner): void {
  program
    .command('doctor')
    .description('check config, CRM, each mailbox and the credential store; say how to fix what is wrong')
    .addHelpText('after', '\nExample:\n  sync-cli doctor')
    .action((_o, cmd: Command) => run(cmd, async () => { throw new NotImplementedError('doctor'); }));
}
