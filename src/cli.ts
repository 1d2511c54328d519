// The commander program and the one place where errors become messages and exit codes.
import { Command, CommanderError, Option } from 'commander';
import { assertTrustedHome } from './config/home.js';
import { createContext, globalOptions, type Context } from './context.js';
import { SyncCliError } from './errors.js';
import { flushLogs } from './log/logger.js';
import { redactString } from './log/redact.js';
import { registerCrmCommands } from './commands/crm.js';
import { registerUsersCommands } from './commands/users.js';
import { registerConfigureCommand } from './commands/configure.js';
import { registerRunCommand } from './commands/run.js';
import { registerDaemonCommand } from './commands/daemon.js';
import { registerStatusCommand } from './commands/status.js';
import { registerServiceCommands } from './commands/service.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerClusterCommands } from './commands/cluster.js';
import { registerStateCommands } from './commands/state.js';
import { registerWorkerCommand } from './commands/worker.js';
import { setLaunchArgv } from './sync/young-generation.js';

/** Runs a command action with a context that is closed afterwards; sets process.exitCode. */
export type ActionRunner = (cmd: Command, fn: (ctx: Context) => Promise<number | void>) => Promise<void>;

const runAction: ActionRunner = async (cmd, fn) => {
  const ctx = createContext(globalOptions(cmd));
  try {
    // An installation folder other users can change is refused before anything is read from it
    // (docs/security.md); doctor reports it instead and then stops short of the mailboxes.
    // doctor reports both as checks instead.
    if (cmd.name() !== 'doctor') {
      assertTrustedHome(ctx.paths);
      ctx.config(); // a bad config.json stops every command up front (exit 2, every problem listed)
    }
    const code = await fn(ctx);
    if (typeof code === 'number') process.exitCode = code;
  } finally {
    await ctx.close();
  }
};

export function buildProgram(): Command {
  const program = new Command('sync-cli')
    .description('Keeps a CRM and its users\' CardDAV/CalDAV mailboxes in agreement.')
    .version(process.env.npm_package_version ?? '0.1.0')
    .option('--home <dir>', 'folder of this installation (config, state, embedded CRM); env SYNC_CLI_HOME')
    .option('--json', 'print one JSON document on stdout (nothing else on stdout)')
    .addOption(new Option('--log-level <level>', 'log detail').choices(['error', 'warn', 'info', 'debug']).default('info'))
    .addOption(new Option('--log-format <format>', 'log lines on stderr').choices(['human', 'json']).default('human'))
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', '\nExample:\n  sync-cli --home ./demo crm init --demo && sync-cli --home ./demo run --once')
    .exitOverride();
  program.configureOutput({ outputError: (str, write) => write(redactString(str)) });

  registerCrmCommands(program, runAction);
  registerStateCommands(program, runAction);
  registerUsersCommands(program, runAction);
  registerConfigureCommand(program, runAction);
  registerRunCommand(program, runAction);
  registerDaemonCommand(program, runAction);
  registerWorkerCommand(program, runAction);
  registerStatusCommand(program, runAction);
  registerServiceCommands(program, runAction);
  registerDoctorCommand(program, runAction);
  registerClusterCommands(program, runAction);

  // Subcommands inherit exitOverride so usage errors reach main() as CommanderError.
  const override = (cmd: Command) => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  override(program);
  return program;
}

/** Turns any error into a one-paragraph message on stderr and an exit code. */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // help and version "errors" are successful exits; usage errors were printed by commander.
    return err.exitCode === 0 ? 0 : 2;
  }
  flushLogs(); // the log lines that led here come first
  if (err instanceof SyncCliError) {
    process.stderr.write(`error: ${redactString(err.message)}\n`);
    if (err.remedy) process.stderr.write(`  fix: ${redactString(err.remedy)}\n`);
    return err.exitCode;
  }
  // A bug, not a user error: keep the stack for the report, redacted.
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`internal error: ${redactString(e.stack ?? e.message)}\n`);
  process.stderr.write('  This is a bug in sync-cli; please report it with the lines above.\n');
  return 1;
}

/** `relaunchable`: argv is this process's own command line, so `run` may start it again (D104). */
export async function main(argv: string[], opts: { relaunchable?: boolean } = {}): Promise<void> {
  if (opts.relaunchable) setLaunchArgv(argv);
  // `sync-cli … | head` closes stdout early: that is not an error worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}
