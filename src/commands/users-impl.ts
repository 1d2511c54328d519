// The bodies of `sync-cli users list|assign|unassign`, loaded only when one of them runs.
import { configWithMailboxes, type Context } from '../context.js';
import { UsageError } from '../errors.js';
import { registerSecret } from '../log/redact.js';
import {
  assignMailbox,
  changeMailboxPassword,
  effectiveSettings,
  findAssignment,
  parseTagList,
  unassignMailbox,
  type AssignmentDraft,
} from '../assignments/index.js';
import { adminDepsFromContext } from '../assignments/deps.js';
import { describeMailboxSecret, systemdUnitCredentialLines } from '../secrets/index.js';

export interface AssignOptions {
  url: string;
  username: string;
  passwordStdin?: boolean;
  passwordEnv?: string;
  addressTags?: string;
  activityTags?: string;
  pastDays?: string;
  syncPrivate?: boolean;
  importAppointmentType?: string;
  importTaskType?: string;
  auth?: string;
  credentialStore?: string;
  trustOrigin?: string[];
  verify: boolean;
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new UsageError('--password-stdin reads the password from a pipe, but stdin is a terminal', 'Pipe it in: printf %s "$PASSWORD" | sync-cli users assign …, or use --password-env VAR.');
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads the password once from exactly one source; undefined when none was given and none is needed. */
export async function readPassword(opts: Pick<AssignOptions, 'passwordStdin' | 'passwordEnv' | 'credentialStore'> & { url?: string }, env: NodeJS.ProcessEnv = process.env, stdin: () => Promise<string> = readStdin): Promise<string | undefined> {
  // A vdir folder (file:///…) has no login.
  if (opts.url?.trim().startsWith('file:') && !opts.passwordStdin && !opts.passwordEnv) return undefined;
  if (opts.passwordStdin && opts.passwordEnv) {
    throw new UsageError('Give the password either with --password-stdin or with --password-env VAR, not both');
  }
  if (!opts.passwordStdin && !opts.passwordEnv) {
    // The env store gets its password at run time; nothing to read now.
    if (opts.credentialStore === 'env') return undefined;
    throw new UsageError('No password given', 'Add --password-stdin (and pipe the password in) or --password-env VAR (the name of an environment variable holding it).');
  }
  let password: string;
  if (opts.passwordEnv) {
    const value = env[opts.passwordEnv];
    if (value === undefined) throw new UsageError(`The environment variable ${opts.passwordEnv} (--password-env) is not set`, `export ${opts.passwordEnv}=… first, or use --password-stdin.`);
    password = value;
  } else {
    // One trailing newline comes from `echo`/here-strings, not from the password.
    password = (await stdin()).replace(/\r?\n$/, '');
  }
  if (password === '') throw new UsageError(`The password from ${opts.passwordEnv ? opts.passwordEnv : 'stdin'} is empty`, 'Give the mailbox password.');
  registerSecret(password);
  return password;
}

export async function listUsers(ctx: Context): Promise<number> {
  const crm = await ctx.crm();
  const config = await configWithMailboxes(ctx);
  const users = await crm.listUsers();
  const rows = users.map((u) => {
    const m = findAssignment(config, u);
    return {
      id: u.id,
      login: u.login,
      name: u.name,
      userTag: u.userTag,
      assigned: Boolean(m),
      mailbox: m
        ? {
            url: m.url,
            username: m.username,
            auth: m.auth,
            credentialStore: m.credentialStore,
            credential: describeMailboxSecret(m, ctx.paths),
            collections: m.collections ?? null,
          }
        : null,
      settings: effectiveSettings(u, m, config),
    };
  });
  const known = new Set(users.map((u) => u.id));
  const orphans = config.mailboxes.filter((m) => !known.has(m.user)).map((m) => ({ user: m.user, url: m.url, username: m.username }));
  if (ctx.out.isJson) {
    ctx.out.json({ users: rows, unknownUsers: orphans });
    return 0;
  }
  if (!rows.length) ctx.out.line('The CRM has no users.');
  for (const r of rows) {
    ctx.out.line(`${r.login} (${r.name}, id ${r.id})`);
    ctx.out.line(r.mailbox ? `  mailbox  ${r.mailbox.username} @ ${r.mailbox.url}  [password: ${r.mailbox.credentialStore}]` : '  mailbox  — not assigned');
    const s = r.settings;
    ctx.out.line(`  address tags ${s.addressTags.join(', ')}; activity tags ${s.activityTags.join(', ')}`);
    ctx.out.line(`  past days ${s.pastDays}; private ${s.syncPrivate ? 'yes' : 'no'}; import as "${s.importAppointmentType}" / "${s.importTaskType}"`);
  }
  for (const o of orphans) ctx.out.line(`! mailbox ${o.username} @ ${o.url} belongs to CRM user id ${o.user}, which the CRM does not know (sync-cli users unassign ${o.user})`);
  return 0;
}

export async function assign(ctx: Context, user: string, opts: AssignOptions): Promise<number> {
  const password = await readPassword(opts);
  const draft: AssignmentDraft = {
    user,
    url: opts.url,
    username: opts.username,
    ...(password !== undefined ? { password } : {}),
    ...(opts.auth ? { auth: opts.auth } : {}),
    ...(opts.credentialStore ? { credentialStore: opts.credentialStore } : {}),
    ...(opts.addressTags !== undefined ? { addressTags: parseTagList(opts.addressTags) } : {}),
    ...(opts.activityTags !== undefined ? { activityTags: parseTagList(opts.activityTags) } : {}),
    ...(opts.pastDays !== undefined ? { pastDays: opts.pastDays } : {}),
    ...(opts.syncPrivate ? { syncPrivate: true } : {}),
    ...(opts.importAppointmentType !== undefined ? { importAppointmentType: opts.importAppointmentType } : {}),
    ...(opts.importTaskType !== undefined ? { importTaskType: opts.importTaskType } : {}),
    ...(opts.trustOrigin?.length ? { trustedOrigins: opts.trustOrigin } : {}),
  };
  const deps = await adminDepsFromContext(ctx);
  const result = await assignMailbox(deps, draft, { verify: opts.verify });
  if (ctx.out.isJson) {
    ctx.out.json({ user: result.crmUser.login, id: result.crmUser.id, mailbox: { ...result.mailbox }, collections: result.collections ?? null, replaced: result.replaced, warnings: result.warnings ?? [] });
    return 0;
  }
  ctx.out.line(`${result.replaced ? 'Updated' : 'Assigned'} mailbox ${result.mailbox.username} @ ${result.mailbox.url} to ${result.crmUser.login}; ${result.mailbox.url.startsWith('file:') ? 'a vdir folder needs no password' : `password kept in: ${describeMailboxSecret(result.mailbox, ctx.paths)}`}`);
  if (result.mailbox.credentialStore === 'systemd') {
    ctx.out.line(`  the daemon's unit needs: ${systemdUnitCredentialLines([result.mailbox], ctx.paths)[0]}`);
  }
  if (result.collections) {
    for (const c of Object.values(result.collections)) ctx.out.line(`  ${c.kind.padEnd(12)} ${c.displayName} → ${c.url}${c.supportsSyncToken ? '' : ' (no sync-token: slower change checks)'}`);
  } else {
    ctx.out.line('  connection not tested (--no-verify); `sync-cli doctor` tests it.');
  }
  for (const w of result.warnings ?? []) ctx.out.line(`  warning: ${w}`);
  return 0;
}


export async function passwd(ctx: Context, user: string, opts: Pick<AssignOptions, 'passwordStdin' | 'passwordEnv' | 'verify'>): Promise<number> {
  const password = await readPassword({ ...opts, credentialStore: undefined });
  const mailbox = await changeMailboxPassword(await adminDepsFromContext(ctx), user, password!, { verify: opts.verify });
  if (ctx.out.isJson) ctx.out.json({ user, mailbox: { url: mailbox.url, username: mailbox.username, credentialStore: mailbox.credentialStore }, verified: opts.verify });
  else ctx.out.line(`Replaced the password of ${mailbox.username} @ ${mailbox.url}${opts.verify ? ' (tested: the server accepted it)' : ''}; kept in: ${describeMailboxSecret(mailbox, ctx.paths)}`);
  return 0;
}

export async function unassign(ctx: Context, user: string): Promise<number> {
  const removed = await unassignMailbox(await adminDepsFromContext(ctx), user);
  if (ctx.out.isJson) ctx.out.json({ user, removed: { url: removed.url, username: removed.username } });
  else ctx.out.line(`Removed the mailbox ${removed.username} @ ${removed.url} from ${user} and its stored password.`);
  return 0;
}
