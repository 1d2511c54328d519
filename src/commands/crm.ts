// `sync-cli crm …`: the embedded CRM (init, demo), import/export of exchange files, and the
// connection to a customer's CRM database.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { Argument, Option } from 'commander';
import type { ActionRunner } from '../cli.js';
import type { Context } from '../context.js';
import { InputError, UsageError } from '../errors.js';
import type { CrmProvider } from '../providers/crm/model.js';

async function sqlProvider(ctx: Context) {
  const { SqlCrmProvider } = await import('../providers/crm/sql-provider.js');
  const provider: CrmProvider = await ctx.crm();
  if (!(provider instanceof SqlCrmProvider)) throw new UsageError('This CRM provider does not support import/export.');
  return provider;
}

async function readInput(file: string): Promise<string> {
  try {
    if (file !== '-') return fs.readFileSync(file, 'utf8');
    // Streamed: a synchronous read of a pipe fails with EAGAIN when the writer is slower.
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    throw new InputError(`Cannot read ${file === '-' ? 'stdin' : file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'Give the path of an exchange file, or - for stdin.');
  }
}

/** Counts of records in the embedded CRM file, or null when it has no CRM tables yet. */
async function embeddedCounts(file: string): Promise<{ users: number; addresses: number; activities: number } | null> {
  const { default: Database } = await import('better-sqlite3');
  let db: InstanceType<typeof Database>;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch {
    return null;
  }
  try {
    const count = (table: string) => (db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n;
    return { users: count('sync_users'), addresses: count('sync_addresses'), activities: count('sync_activities') };
  } catch {
    return null;
  } finally {
    db.close();
  }
}

async function crmInit(ctx: Context, opts: { demo?: boolean; force?: boolean }): Promise<void> {
  const file = ctx.paths.crmDb;
  const config = ctx.config();
  if (fs.existsSync(file)) {
    const existing = await embeddedCounts(file);
    const total = existing ? existing.users + existing.addresses + existing.activities : 0;
    if (!existing && fs.statSync(file).size > 0 && !opts.force) {
      throw new UsageError(`${file} exists but is not an embedded CRM; nothing was changed.`, 'Move the file away, or add --force to replace it.');
    }
    if (total > 0 && !opts.force) {
      throw new UsageError(
        `The embedded CRM ${file} already holds data (${existing?.users} users, ${existing?.addresses} addresses, ${existing?.activities} activities); nothing was changed.`,
        'Add --force to delete it and start afresh (its data is lost), or use another --home.',
      );
    }
    for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
    if (total > 0) ctx.logger.warn(`deleted the existing embedded CRM ${file} (--force)`);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const { SqlCrmProvider } = await import('../providers/crm/sql-provider.js');
  await SqlCrmProvider.createTables({ dialect: 'sqlite', url: file });
  fs.chmodSync(file, 0o600);
  const { importExchange, validateExchange } = await import('../providers/crm/exchange.js');
  let counts = { users: 0, addresses: 0, activities: 0 };
  if (opts.demo) {
    const { generateDemoCrm } = await import('../providers/crm/demo.js');
    const { file: demo, problems } = validateExchange(generateDemoCrm());
    if (problems.length) throw new Error(`demo data is invalid: ${problems.join('; ')}`);
    const provider = await SqlCrmProvider.open({ dialect: 'sqlite', url: file });
    try {
      await importExchange(provider, demo, 'demo data');
    } finally {
      await provider.close();
    }
    counts = { users: demo.users.length, addresses: demo.addresses.length, activities: demo.activities.length };
  }
  // The embedded CRM becomes the configured one; say so when that changes the config.
  const pointsHere = config.crm.dialect === 'sqlite' && (!config.crm.url || path.resolve(config.crm.url) === file);
  if (!pointsHere) {
    ctx.saveConfig({ ...config, crm: { dialect: 'sqlite', overlapSeconds: config.crm.overlapSeconds } });
  }
  if (ctx.out.isJson) {
    ctx.out.json({ file, demo: Boolean(opts.demo), ...counts, configChanged: !pointsHere });
    return;
  }
  ctx.out.line(`Created the embedded CRM ${file}`);
  if (opts.demo) ctx.out.line(`  demo data: ${counts.users} users, ${counts.addresses} addresses, ${counts.activities} appointments and tasks`);
  if (!pointsHere) ctx.out.line(`  config.json: crm now points at the embedded CRM (was ${config.crm.dialect})`);
}

async function crmImport(ctx: Context, file: string): Promise<void> {
  const source = file === '-' ? 'stdin' : file;
  const { parseExchangeTextLenient, importExchange } = await import('../providers/crm/exchange.js');
  const parsed = parseExchangeTextLenient(await readInput(file), source);
  const provider = await sqlProvider(ctx);
  const summary = await importExchange(provider, parsed.file, source, parsed.problems);
  if (ctx.out.isJson) {
    ctx.out.json(summary);
    return;
  }
  ctx.out.line(`Imported ${source} into ${provider.description}:`);
  for (const [kind, c] of Object.entries(summary)) {
    ctx.out.line(`  ${kind}: ${c.created} created, ${c.updated} updated, ${c.deleted} deleted, ${c.unchanged} unchanged`);
  }
}

async function crmExport(ctx: Context): Promise<void> {
  const { exportExchange } = await import('../providers/crm/exchange.js');
  const doc = await exportExchange(await sqlProvider(ctx));
  // `crm export | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
}

async function crmConnect(ctx: Context, dialect: 'sqlite' | 'postgres' | 'mysql', opts: { url: string; schema?: string }): Promise<void> {
  const { SqlCrmProvider, splitCrmUrl, CRM_PASSWORD_REF } = await import('../providers/crm/index.js');
  let url = opts.url;
  if (dialect === 'sqlite') url = path.resolve(url.replace(/^sqlite:(\/\/)?/, '').replace(/^file:(\/\/)?/, ''));
  else if (!new RegExp(`^${dialect === 'postgres' ? 'postgres(ql)?' : '(mysql|mariadb)'}://`).test(url)) {
    throw new UsageError(`--url must be a ${dialect} URL`, dialect === 'postgres' ? 'Example: postgres://sync@db.example:5432/crm' : 'Example: mysql://sync@db.example:3306/crm');
  }
  if (dialect === 'mysql') url = url.replace(/^mariadb:/, 'mysql:');
  const { url: storedUrl, password } = splitCrmUrl(url);
  // Test the connection and the view contract before anything is saved.
  const provider = await SqlCrmProvider.open({ dialect, url, schema: opts.schema });
  let users: number;
  try {
    users = (await provider.listUsers()).length;
  } finally {
    await provider.close();
  }
  const { FileCredentialStore } = await import('../secrets/file-store.js');
  const secrets = new FileCredentialStore(ctx.paths.secretsFile);
  if (password !== null) await secrets.set(CRM_PASSWORD_REF, password);
  else await secrets.delete(CRM_PASSWORD_REF);
  const config = ctx.config();
  ctx.saveConfig({ ...config, crm: { ...config.crm, dialect, url: storedUrl, schema: opts.schema } });
  if (ctx.out.isJson) {
    ctx.out.json({ dialect, url: provider.description, schema: opts.schema ?? null, users, passwordStored: password !== null });
    return;
  }
  ctx.out.line(`Connected to ${provider.description}: the view contract is complete, ${users} CRM users.`);
  ctx.out.line(`  config.json: crm.dialect = ${dialect}, crm.url saved${password !== null ? ' without the password' : ''}${opts.schema ? `, crm.schema = ${opts.schema}` : ''}`);
  if (password !== null) ctx.out.line(`  the password is kept in ${ctx.paths.secretsFile} (0600); SYNC_CLI_CRM_PASSWORD overrides it`);
}

export function registerCrmCommands(program: Command, run: ActionRunner): void {
  const crm = program.command('crm').description('the CRM side: embedded CRM, import/export, connection');
  crm
    .command('init')
    .description('create the embedded CRM (SQLite) under --home')
    .option('--demo', 'fill it with a realistic German sample (4 users, 64 addresses, 50+ appointments, 12 tasks)')
    .option('--force', 'replace an embedded CRM that already holds data (its data is lost)')
    .addHelpText('after', '\nExample:\n  sync-cli --home ./demo crm init --demo')
    .action((o: { demo?: boolean; force?: boolean }, cmd: Command) => run(cmd, (ctx) => crmInit(ctx, o)));
  crm
    .command('import')
    .description('upsert users, addresses and activities from an exchange file (one transaction, idempotent by id)')
    .argument('<file>', 'exchange file (JSON, see crm-exchange.md), or - for stdin')
    .addHelpText('after', '\nExamples:\n  sync-cli crm import customers.json\n  sync-cli crm export | sync-cli --home ./other crm import -')
    .action((file: string, _o, cmd: Command) => run(cmd, (ctx) => crmImport(ctx, file)));
  crm
    .command('export')
    .description('print the whole CRM as an exchange file on stdout')
    .addHelpText('after', '\nExample:\n  sync-cli crm export > crm.json')
    .action((_o, cmd: Command) => run(cmd, (ctx) => crmExport(ctx)));
  crm
    .command('connect')
    .description('point sync-cli at a CRM database that follows the view contract (docs/crm-views.md)')
    .addArgument(new Argument('<dialect>', 'database kind').choices(['sqlite', 'postgres', 'mysql']))
    .requiredOption('--url <url>', 'postgres://user:password@host:5432/db, mysql://user:password@host:3306/db, or a SQLite file')
    .addOption(new Option('--schema <schema>', 'PostgreSQL schema that holds the sync_* views'))
    .addHelpText('after', '\nExamples:\n  sync-cli crm connect postgres --url postgres://sync@db.example/crm --schema sync\n  sync-cli crm connect mysql --url mysql://sync:secret@db.example/crm')
    .action((dialect: 'sqlite' | 'postgres' | 'mysql', o: { url: string; schema?: string }, cmd: Command) =>
      run(cmd, (ctx) => crmConnect(ctx, dialect, o)));
}
