// `sync-cli service install|uninstall|status`: the OS service.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { NotImplementedError } from '../errors.js';

export function registerServiceCommands(program: Command, run: ActionRunner): void {
  const service = program.command('service').description('install the daemon as an OS service (systemd, launchd, Windows)');
  for (const name of ['install', 'uninstall', 'status']) {
    service
      .command(name)
      .description(`${name} the OS service`)
      .option('--user', 'per-user service instead of a system service')
      .addHelpText('after', `\nExample:\n  sudo sync-cli service ${name}`)
      .action((_o, cmd: Command) => run(cmd, async () => { throw new NotImplementedError(`service ${name}`); }));
  }
}
