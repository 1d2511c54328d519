// `sync-cli doctor`: registration only; the checks (./doctor-checks.ts) load when it runs.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';

export function registerDoctorCommand(program: Command, run: ActionRunner): void {
  program
    .command('doctor')
    .description('check config, CRM, each mailbox and the credential store; say how to fix what is wrong')
    .addHelpText('after', '\nExamples:\n  sync-cli doctor\n  sync-cli doctor --json')
    .action((_o, cmd: Command) => run(cmd, async (ctx) => (await import('./doctor-checks.js')).doctor(ctx)));
}
