// `sync-cli state connect sqlite|postgres`: where the sync state lives. Moving to PostgreSQL
// (a cluster's shared store, docs/scale-out.md) copies every mailbox's state, verified, then
// switches config.json; the old SQLite file is kept aside, never deleted. The mailbox
// assignments and the passwords they can take along go with it (src/assignments/move.ts, D87,
// D88). The database password is kept out of config.json like the CRM's (C2).
import fs from 'node:fs';
import type { Command } from 'commander';
import { Argument, Option } from 'commander';
import type { ActionRunner } from '../cli.js';
import type { Context } from '../context.js';
import { SyncCliError, UsageError } from '../errors.js';
import type { Config } from '../config/schema.js';

type Kind = 'sqlite' | 'postgres';

async function stateConnect(ctx: Context, kind: Kind, opts: { url?: string; schema: string }): Promise<void> {
  const { openStateStore, STATE_PASSWORD_REF, splitDatabaseUrl } = await import('../sync/state/open.js');
  const { copyState, StateCopyError } = await import('../sync/state/copy.js');
  const { runningDaemonPid } = await import('../daemon/daemon.js');
  const config = ctx.config();
  if (kind === 'postgres' && !opts.url) throw new UsageError('--url is required for postgres', 'Example: sync-cli state connect postgres --url postgres://sync@db.example:5432/sync');
  if (kind === 'postgres' && !/^postgres(ql)?:\/\//.test(opts.url!)) throw new UsageError(`--url must be a postgres:// URL, not ${JSON.stringify(opts.url!.replace(/:[^:@/]*@/, ':***@'))}`, 'Example: sync-cli state connect postgres --url postgres://sync@db.example:5432/sync');
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(opts.schema)) throw new UsageError(`--schema ${JSON.stringify(opts.schema)} is not a plain lower-case identifier`, 'use letters a-z, digits and _, e.g. --schema sync_cli');
  if (kind === 'sqlite' && opts.url) throw new UsageError('--url is not used for sqlite: the state file is state.sqlite under --home', 'leave --url out');
  const pid = runningDaemonPid(ctx.paths);
  if (pid !== null) throw new UsageError(`the daemon of this installation is running (pid ${pid}): its writes during the move would be lost; nothing was changed`, 'stop it first (systemctl stop sync-cli, or kill ' + pid + '), then run this again');

  const split = kind === 'postgres' ? splitDatabaseUrl(opts.url!) : { url: undefined, password: null };
  const target: Config['state'] = { kind, url: split.url, schema: opts.schema };
  const current = config.state;
  if (current.kind === target.kind && (current.url ?? '') === (target.url ?? '') && current.schema === target.schema) {
    ctx.out.line(`The state is already in ${kind === 'sqlite' ? ctx.paths.stateDb : `${target.url} (schema ${target.schema})`}; nothing to do.`);
    if (ctx.out.isJson) ctx.out.json({ kind, url: target.url ?? null, schema: target.schema, mailboxes: 0, items: 0, moved: false });
    return;
  }
  const from = await openStateStore(current, ctx.paths, process.env);
  let to;
  try {
    to = await openStateStore(target, ctx.paths, process.env, { password: split.password });
  } catch (err) {
    await from.close();
    throw err;
  }
  let report;
  let move;
  try {
    const { clusterTablesOf } = await import('../sync/state/shared.js');
    const { moveAssignmentsFromCluster, moveAssignmentsToCluster } = await import('../assignments/move.js');
    // A host that brings no state and no assignment joins the cluster's state as it is.
    const joins = kind === 'postgres' && current.kind === 'sqlite' && !config.mailboxes.length && !(await from.listStatuses()).length;
    report = joins
      ? { mailboxes: 0, items: 0 }
      : await copyState(from, to, (done, total) => {
          if (!ctx.out.isJson && (done === total || done % 100 === 0)) ctx.out.line(`  moved ${done} of ${total} mailboxes`);
        });
    // The assignments (and the passwords they can take along) go where the state went (D87, D88).
    const fromTables = clusterTablesOf(from);
    const toTables = clusterTablesOf(to);
    if (toTables) {
      const here = fromTables ? await new (await import('../assignments/store.js')).DatabaseAssignments(fromTables, from.describe).list() : config.mailboxes;
      move = await moveAssignmentsToCluster(here, toTables, to.describe, ctx.paths, process.env, fromTables ?? undefined);
    } else if (fromTables) {
      move = await moveAssignmentsFromCluster(fromTables, from.describe, ctx.paths);
    }
  } catch (err) {
    if (err instanceof StateCopyError) throw new SyncCliError(err.message, { exitCode: 2, remedy: err.remedy });
    throw err;
  } finally {
    await Promise.all([from.close(), to.close()]);
  }
  if (split.password !== null) {
    const { FileCredentialStore } = await import('../secrets/file-store.js');
    await new FileCredentialStore(ctx.paths.secretsFile).set(STATE_PASSWORD_REF, split.password);
  }
  // With a shared state the mailboxes live in its table, not in config.json (D87).
  ctx.saveConfig({ ...config, state: target, mailboxes: kind === 'postgres' ? [] : (move?.mailboxes ?? config.mailboxes) });
  await move?.cleanUp();
  // The SQLite file left behind is kept (renamed), so nothing can silently go on using it.
  let keptAs: string | null = null;
  if (current.kind === 'sqlite' && fs.existsSync(ctx.paths.stateDb)) {
    keptAs = `${ctx.paths.stateDb}.moved-${new Date().toISOString().slice(0, 10)}`;
    fs.renameSync(ctx.paths.stateDb, keptAs);
    for (const suffix of ['-wal', '-shm']) fs.rmSync(ctx.paths.stateDb + suffix, { force: true });
  }
  if (ctx.out.isJson) {
    ctx.out.json({
      kind, url: target.url ?? null, schema: target.schema, mailboxes: report.mailboxes, items: report.items, moved: true, keptAs,
      assignments: move?.mailboxes.length ?? config.mailboxes.length, movedPasswords: move?.movedSecrets ?? 0, passwordsLeft: move?.secretsLeft ?? null,
    });
    return;
  }
  ctx.out.line(`The state of ${report.mailboxes} mailbox(es), ${report.items} items, is now in ${to.describe}.`);
  ctx.out.line(`  config.json: state.kind = ${kind}${target.url ? `, state.url saved${split.password !== null ? ' without the password' : ''}, state.schema = ${target.schema}` : ''}`);
  if (split.password !== null) ctx.out.line(`  the password is kept in ${ctx.paths.secretsFile} (0600); SYNC_CLI_STATE_PASSWORD overrides it`);
  if (keptAs) ctx.out.line(`  the old SQLite state is kept as ${keptAs}; delete it once the next sync ran well`);
  if (move) {
    ctx.out.line(`  ${move.mailboxes.length} mailbox assignment(s) now in ${kind === 'postgres' ? `${to.describe} (seen by every host)` : ctx.paths.configFile}`);
    if (move.movedSecrets) ctx.out.line(`  ${move.movedSecrets} password(s) moved ${kind === 'postgres' ? 'into the state database, sealed under the cluster key' : `into ${ctx.paths.secretsFile} (0600)`}`);
    if (move.secretsLeft) {
      ctx.out.line(`  ${move.secretsLeft.count} password(s) stay in their file/keychain store on this host only: ${move.secretsLeft.reason}`);
      ctx.out.line(`    to share them: ${move.secretsLeft.fix}`);
    }
  }
}

export function registerStateCommands(program: Command, run: ActionRunner): void {
  const state = program.command('state').description('where the sync state lives (SQLite under --home, or PostgreSQL for a cluster)').addHelpText('after', '\nExample:\n  sync-cli state connect postgres --url postgres://sync@db.example:5432/sync');
  state
    .command('connect')
    .description('keep the sync state in PostgreSQL (or back in SQLite); moves the existing state, the mailbox assignments and (with a cluster key) the passwords there, verified')
    .addArgument(new Argument('<kind>', 'state store').choices(['sqlite', 'postgres']))
    .addOption(new Option('--url <url>', 'postgres://user:password@host:5432/db (postgres only)'))
    .addOption(new Option('--schema <schema>', 'PostgreSQL schema for the state tables').default('sync_cli'))
    .addHelpText('after', '\nExamples:\n  sync-cli state connect postgres --url postgres://sync:secret@db.example:5432/sync\n  sync-cli state connect sqlite')
    .action((kind: Kind, o: { url?: string; schema: string }, cmd: Command) => run(cmd, (ctx) => stateConnect(ctx, kind, o)));
}
