// `sync-cli daemon`: the long-running service.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { NotImplementedError } from '../errors.js';

export function registerDaemonCommand(program: Command, run: ActionRunner): void {
  program
    .command('daemon')
    .description('the long-running service: scheduled and pushed syncs')
    .option('--interval <seconds>', 'default sync interval in seconds')
    .addHelpText('after', '\nExample:\n  sync-cli daemon --interval 300 --log-format json')
    .action((_o, cmd: Command) => run(cmd, async () => { throw new NotImplementedError('daemon'); }));
}
