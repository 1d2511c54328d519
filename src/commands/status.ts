// `sync-cli status`: per-mailbox state.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { NotImplementedError } from '../errors.js';

export function registerStatusCommand(program: Command, run: ActionRunner): void {
  program
    .command('status')
    .description('per mailbox: state, last success, last error, pending changes, next run')
    .addHelpText('after', '\nExample:\n  sync-cli status --json')
    .action((_o, cmd: Command) => run(cmd, async () => { throw new NotImplementedError('status'); }));
}
