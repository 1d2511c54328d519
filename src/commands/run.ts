// `sync-cli run --once`: one sync pass.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { NotImplementedError } from '../errors.js';

export function registerRunCommand(program: Command, run: ActionRunner): void {
  program
    .command('run')
    .description('one sync pass over the chosen (default: all) mailboxes')
    .option('--once', 'run one pass and exit')
    .addHelpText('after', '\nExample:\n  sync-cli run --once --user mmueller --dry-run')
    .action((_o, cmd: Command) => run(cmd, async () => { throw new NotImplementedError('run'); }));
}
