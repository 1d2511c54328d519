// `sync-cli cluster …`: what several hosts over one PostgreSQL share (docs/scale-out.md). So far:
// the cluster key that seals mailbox passwords in the shared database.
import type { Command } from 'commander';
import type { ActionRunner } from '../cli.js';

export function registerClusterCommands(program: Command, run: ActionRunner): void {
  const cluster = program.command('cluster').description('what the hosts of a cluster share (docs/scale-out.md)').addHelpText('after', '\nExample:\n  sync-cli cluster key generate');
  const key = cluster.command('key').description('the cluster key that seals mailbox passwords in the shared database').addHelpText('after', '\nExample:\n  sync-cli cluster key generate --output /etc/sync-cli/cluster-key');
  key
    .command('generate')
    .description('make a new cluster key: into a 0600 file (default: cluster-key in the home), or on stdout with --print')
    .option('--output <file>', 'write the key to this file (mode 0600) instead of the home')
    .option('--print', 'print the key on stdout (to pipe into systemd-creds encrypt) and write nothing')
    .option('--force', 'replace an existing key file')
    .addHelpText(
      'after',
      `
Make the key once per cluster and give every host the same key. Each host reads it from, in this
order: the systemd credential sync-cli-cluster-key ($CREDENTIALS_DIRECTORY), SYNC_CLI_CLUSTER_KEY
(base64), the 0600 file cluster-key in the home, the OS keychain (service sync-cli, account cluster-key).

Examples:
  sync-cli cluster key generate
  sync-cli cluster key generate --print | sudo systemd-creds encrypt --name=sync-cli-cluster-key - /etc/credstore.encrypted/sync-cli-cluster-key`,
    )
    .action((flags: { output?: string; print?: boolean; force?: boolean }, cmd: Command) =>
      run(cmd, async (ctx) => {
        const { UsageError } = await import('../errors.js');
        const { clusterKeyFile, clusterKeyId, generateClusterKey, writeClusterKeyFile } = await import('../secrets/cluster-key.js');
        if (flags.print && flags.output) throw new UsageError('--print and --output exclude each other', 'Print the key (--print) or write it to a file (--output FILE).');
        const generated = generateClusterKey();
        const id = clusterKeyId(Buffer.from(generated, 'base64'));
        if (flags.print) {
          // Raw on stdout, nothing else there: the key is meant for a pipe.
          process.stdout.write(`${generated}\n`);
          process.stderr.write(`cluster key ${id} printed; nothing was written\n`);
          return;
        }
        const file = flags.output ?? clusterKeyFile(ctx.paths);
        writeClusterKeyFile(file, generated, flags.force);
        if (ctx.out.isJson) ctx.out.json({ file, keyId: id });
        else ctx.out.line(`cluster key ${id} written to ${file} (mode 600); copy it to every host of the cluster`);
      }),
    );
}
