// `sync-cli service install|uninstall|status`: the OS service.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import type { ServiceFlags } from '../service/command.js';

export function registerServiceCommands(program: Command, run: ActionRunner): void {
  const service = program.command('service').description('install the daemon as an OS service (systemd, launchd, Windows)');
  for (const name of ['install', 'uninstall', 'status'] as const) {
    const sub = service.command(name);
    if (name !== 'status') sub.option('--dry-run', 'print every step (account, folders with owners and modes, files, systemctl calls) and change nothing');
    sub
      .description(`${name} the OS service`)
      .option('--user', 'per-user service instead of a system service')
      .option('--print', 'print the service file (systemd unit, launchd plist or WinSW XML) and change nothing')
      .option('--platform <platform>', 'with --print: linux, darwin or win32 (default: this machine)')
      .option('--account <name>', 'system service account (Linux: created when missing)', 'sync-cli')
      .addHelpText(
        'after',
        `
A system service needs root; without it, the exact sudo command is printed and nothing changes (exit 2).
${name === 'status' ? '' : `--dry-run lists the steps in the order ${name} carries them out, as root would, without doing any.\n`}
Linux: systemd unit; macOS: launchd plist; Windows: WinSW from node-windows (untested). See docs/operations.md.

Examples:
  sudo sync-cli service ${name}
  sync-cli service ${name} --user
${name === 'status' ? '' : `  sync-cli service ${name} --dry-run\n`}  sync-cli service install --print --platform darwin`,
      )
      .action((flags: ServiceFlags, cmd: Command) =>
        run(cmd, async (ctx) => {
          const { runServiceCommand } = await import('../service/command.js');
          return runServiceCommand(ctx, name, flags);
        }),
      );
  }
}
