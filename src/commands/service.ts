// `sync-cli service install|uninstall|status`: the OS service.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import type { ServiceFlags } from '../service/command.js';

export function registerServiceCommands(program: Command, run: ActionRunner): void {
  const service = program.command('service').description('install the daemon (or a cluster worker) as an OS service (systemd, launchd, Windows)');
  for (const name of ['install', 'uninstall', 'status'] as const) {
    const sub = service.command(name);
    if (name !== 'status') sub.option('--dry-run', 'print every step (account, folders with owners and modes, files, systemctl calls) and change nothing');
    sub
      .description(`${name} the OS service`)
      .option('--user', 'per-user service instead of a system service')
      .option('--print', 'print the service file (systemd unit, launchd plist or WinSW XML) and change nothing')
      .option('--platform <platform>', 'with --print: linux, darwin or win32 (default: this machine)')
      .option('--account <name>', 'system service account (Linux: created when missing)', 'sync-cli')
      .option('--worker', "the cluster worker's systemd template sync-cli-worker@.service instead of the daemon's unit (Linux)");
    if (name !== 'status') sub.option('--instances <n>', `with --worker: the instances sync-cli-worker@1 … @N ${name === 'install' ? 'enabled and started' : 'stopped and disabled'} (default 1)`);
    if (name === 'install') sub.option('--concurrency <n>', 'with --worker: `sync-cli worker --concurrency N` in the unit (default: sync.mailboxConcurrency)');
    sub
      .addHelpText(
        'after',
        `
A system service needs root; without it, the exact sudo command is printed and nothing changes (exit 2).
${name === 'status' ? '' : `--dry-run lists the steps in the order ${name} carries them out, as root would, without doing any.\n`}
Linux: systemd unit; macOS: launchd plist; Windows: WinSW from node-windows (untested). See docs/operations.md.
--worker: the unit of \`sync-cli worker\` on a cluster (state on PostgreSQL), a template with one
instance per worker process; ${name === 'status' ? 'shows every running instance' : 'add --instances N for N processes on this host'} (docs/scale-out.md).

Examples:
  sudo sync-cli service ${name}
  sync-cli service ${name} --user
${name === 'status' ? '' : `  sync-cli service ${name} --dry-run\n`}  sync-cli service install --print --platform darwin
  sudo sync-cli service ${name} --worker${name === 'install' ? ' --instances 2 --concurrency 8' : name === 'uninstall' ? ' --instances 2' : ''}
${name === 'status' ? '' : `  sync-cli service ${name} --worker --dry-run\n`}`,
      )
      .action((flags: ServiceFlags, cmd: Command) =>
        run(cmd, async (ctx) => {
          const { runServiceCommand } = await import('../service/command.js');
          return runServiceCommand(ctx, name, flags);
        }),
      );
  }
}
