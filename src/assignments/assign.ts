// Assigning and unassigning mailboxes: validate → test the connection (provision) → keep the
// secret → write config.json. Shared by `users assign|unassign` and the configure UI.
import type { Paths } from '../config/paths.js';
import type { Config, MailboxConfig } from '../config/schema.js';
import { SyncCliError } from '../errors.js';
import type { CrmUser } from '../providers/crm/model.js';
import {
  defaultCredentialStoreKind,
  deleteMailboxPassword,
  getMailboxPassword,
  mailboxRef,
  openCredentialStore,
  passwordEnvName,
  storeMailboxPassword,
  type CredentialStoreKind,
} from '../secrets/index.js';
import { diagnosisFindings } from '../providers/dav/quirks.js';
import { collectionKinds, type MailboxConnector, type ProvisionedCollections } from './connection.js';
import { UnknownUserError, validateAssignment, type AssignmentDraft, type CrmDirectory } from './validate.js';

export interface AdminDeps {
  paths: Paths;
  crm(): Promise<CrmDirectory>;
  /** The config with `mailboxes` from wherever the assignments live (config.json or the shared state, D87). */
  config(): Config;
  /** Saves it: the mailboxes to the assignment store, the rest to config.json. */
  saveConfig(config: Config): void | Promise<void>;
  connect: MailboxConnector;
  env?: NodeJS.ProcessEnv;
  /** Store for a new assignment without an explicit choice; default: keychain if one answers, else file. */
  defaultStore?: () => Promise<CredentialStoreKind>;
}

export class ConnectionTestError extends SyncCliError {
  constructor(url: string, cause: unknown) {
    const e = cause as { message?: string; remedy?: string };
    super(`Test connection to ${url} failed: ${e.message ?? String(cause)}`, {
      exitCode: 2,
      // Nothing was saved, so there is no "next sync" that could retry: say what to do now.
      remedy: `${e.remedy ? e.remedy.replace(/;?\s*the next sync retries[^;]*/i, '') : 'Check the URL, user name and password'} — nothing was saved (add --no-verify to save without testing)`,
      cause,
    });
  }
}

/** Finds the mailbox of a CRM user (given by login or id) in the config. */
export function findAssignment(config: Config, user: CrmUser | string): MailboxConfig | undefined {
  const id = typeof user === 'string' ? user : user.id;
  return config.mailboxes.find((m) => m.user === id);
}

/**
 * Discovers (and creates where missing) the three collections of a mailbox, as the sync will.
 * Throws ConnectionTestError with the server's exact error.
 */
export async function testMailboxConnection(
  deps: Pick<AdminDeps, 'config' | 'connect'>,
  mailbox: MailboxConfig,
  password: string,
  warnings?: string[],
): Promise<ProvisionedCollections> {
  const config = deps.config();
  let connection;
  try {
    connection = await deps.connect({ url: mailbox.url, username: mailbox.username, password, auth: mailbox.auth, trustedOrigins: mailbox.trustedOrigins }, config.dav);
    const collections = await connection.provision(config.sync.collectionNames, mailbox.collections);
    // Quirks that lower a guarantee are said at assignment time, not discovered later (issue #13).
    if (warnings && connection.diagnose) {
      for (const f of diagnosisFindings(await connection.diagnose(collections), config.sync.fullEveryHours)) warnings.push(`${f.detail}. ${f.fix}`);
    }
    return collections;
  } catch (err) {
    throw new ConnectionTestError(mailbox.url, err);
  } finally {
    await connection?.close();
  }
}

export interface AssignResult {
  crmUser: CrmUser;
  mailbox: MailboxConfig;
  collections?: ProvisionedCollections;
  replaced: boolean;
  /** Server quirks that lower a guarantee (found while testing the connection), with what to do. */
  warnings?: string[];
}

/** Validates, optionally tests the connection, stores the secret and writes config.json. */
export async function assignMailbox(deps: AdminDeps, draft: AssignmentDraft, opts: { verify: boolean }): Promise<AssignResult> {
  const crm = await deps.crm();
  const config = deps.config();
  const crmUser = await crm.findUser(draft.user.trim());
  if (!crmUser) throw new UnknownUserError(draft.user);
  const existing = findAssignment(config, crmUser);
  if (draft.credentialStore === undefined && !existing) {
    draft = { ...draft, credentialStore: await (deps.defaultStore ?? (() => defaultCredentialStoreKind(deps.paths, config.state.kind)))() };
  }
  const valid = await validateAssignment(draft, crm, existing);
  let mailbox = valid.mailbox;

  // Without a new password the stored one is reused (also when it moves to another store).
  let password = valid.password;
  if (password === undefined && mailbox.credentialStore === 'env') {
    // The env store gets its password at run time; test with it when it is set here too.
    password = (await openCredentialStore('env', deps.paths, deps.env).get(mailboxRef(mailbox.user))) ?? undefined;
  }
  if (password === undefined && existing) password = await getMailboxPassword(existing, deps.paths, deps.env);
  let collections: ProvisionedCollections | undefined;
  const vdir = mailbox.url.startsWith('file:');
  if (vdir && password === undefined) password = '';
  const warnings: string[] = [];
  if (config.state.kind === 'postgres' && (mailbox.credentialStore === 'file' || mailbox.credentialStore === 'keychain') && !vdir) {
    // The assignment is seen by every host, this password is not (D88).
    warnings.push(`the ${mailbox.credentialStore} store is on this host only: the other hosts of the cluster cannot sync this mailbox. Use --credential-store cluster to share the password sealed under the cluster key`);
  }
  if (opts.verify) {
    if (password === undefined) {
      throw new ConnectionTestError(mailbox.url, { message: 'no password to test with', remedy: `Set ${passwordEnvName(mailboxRef(mailbox.user))} here too, or add --no-verify.` });
    }
    collections = await testMailboxConnection(deps, mailbox, password, warnings);
    mailbox = { ...mailbox, collections: Object.fromEntries(collectionKinds.map((k) => [k, collections![k].url])) };
  }

  const secretChanged = valid.password !== undefined || existing?.credentialStore !== mailbox.credentialStore;
  if (password !== undefined && secretChanged && !vdir) await storeMailboxPassword(mailbox, password, deps.paths, deps.env);
  const next: Config = { ...config, mailboxes: [...config.mailboxes.filter((m) => m.user !== crmUser.id), mailbox] };
  try {
    await deps.saveConfig(next);
  } catch (err) {
    // Keep store and config in agreement: a new secret without its assignment is removed again.
    if (!existing && secretChanged) await deleteMailboxPassword(mailbox, deps.paths, deps.env).catch(() => undefined);
    throw err;
  }
  if (existing && existing.credentialStore !== mailbox.credentialStore) {
    await deleteMailboxPassword(existing, deps.paths, deps.env).catch(() => undefined);
  }
  return { crmUser: valid.crmUser, mailbox, ...(collections ? { collections } : {}), replaced: Boolean(existing), warnings };
}

/**
 * Replaces only the stored password of an assigned mailbox (tested first unless verify is off):
 * URL, username, settings and the credential store stay as they are.
 */
export async function changeMailboxPassword(deps: AdminDeps, user: string, password: string, opts: { verify: boolean }): Promise<MailboxConfig> {
  const crm = await deps.crm();
  const crmUser = await crm.findUser(user.trim());
  if (!crmUser) throw new UnknownUserError(user);
  const mailbox = findAssignment(deps.config(), crmUser);
  if (!mailbox) throw new NotAssignedError(crmUser.login);
  if (mailbox.url.startsWith('file:')) throw new SyncCliError(`the mailbox of ${crmUser.login} is a vdir folder (${mailbox.url}), which has no password`, { exitCode: 2 });
  if (mailbox.credentialStore === 'env') {
    throw new SyncCliError(`the password of ${crmUser.login}'s mailbox is not stored: the env store reads ${passwordEnvName(mailboxRef(mailbox.user))} when sync-cli runs`, {
      exitCode: 2,
      remedy: `set ${passwordEnvName(mailboxRef(mailbox.user))} to the new password where sync-cli runs (the service's environment), or move it into a store: sync-cli users assign ${crmUser.login} --url ${mailbox.url} --username ${mailbox.username} --password-stdin --credential-store file`,
    });
  }
  if (opts.verify) await testMailboxConnection(deps, mailbox, password);
  await storeMailboxPassword(mailbox, password, deps.paths, deps.env);
  return mailbox;
}

export class NotAssignedError extends SyncCliError {
  constructor(user: string) {
    super(`CRM user ${user} has no mailbox assigned`, { exitCode: 2, remedy: 'See `sync-cli users list` for the assignments.' });
  }
}

/** Removes the assignment (config first, then its secret). USER is a login or id. */
export async function unassignMailbox(deps: AdminDeps, user: string): Promise<MailboxConfig> {
  const config = deps.config();
  // Also works for a user that was deleted from the CRM since: match the stored id first.
  let mailbox = config.mailboxes.find((m) => m.user === user);
  if (!mailbox) {
    const crmUser = await (await deps.crm()).findUser(user);
    if (!crmUser) throw new UnknownUserError(user);
    mailbox = findAssignment(config, crmUser);
    if (!mailbox) throw new NotAssignedError(crmUser.login);
  }
  const removed = mailbox;
  await deps.saveConfig({ ...config, mailboxes: config.mailboxes.filter((m) => m !== removed) });
  await deleteMailboxPassword(removed, deps.paths, deps.env);
  return removed;
}

export interface EffectiveSettings {
  addressTags: string[];
  activityTags: string[];
  pastDays: number;
  syncPrivate: boolean;
  importAppointmentType: string;
  importTaskType: string;
}

/** Per-user overrides ?? CRM user values ?? config defaults; the user tag is always included (R1, R2). */
export function effectiveSettings(user: CrmUser, mailbox: MailboxConfig | undefined, config: Config): EffectiveSettings {
  const withUserTag = (tags: string[]) => [...new Set([user.userTag, ...tags])];
  return {
    addressTags: withUserTag(mailbox?.addressTags ?? user.addressTags),
    activityTags: withUserTag(mailbox?.activityTags ?? user.activityTags),
    pastDays: mailbox?.pastDays ?? config.sync.pastDays,
    syncPrivate: mailbox?.syncPrivate ?? config.sync.syncPrivate,
    importAppointmentType: mailbox?.importAppointmentType ?? user.importAppointmentType,
    importTaskType: mailbox?.importTaskType ?? user.importTaskType,
  };
}
