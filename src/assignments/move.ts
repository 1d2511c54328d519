// `state connect` moves the assignments along with the state (D87, D88): into the shared
// PostgreSQL state's `assignment` table, and the passwords of the file and keychain stores sealed
// under the cluster key into its `sealed_secret` table (only when this host has a cluster key;
// otherwise they stay where they are, and the admin is told how to make a key); back into
// config.json and the file store when the state goes back to SQLite. Every write is read back
// and compared before the caller switches config.json; the old secrets are removed only after.
import { isDeepStrictEqual } from 'node:util';
import type { Paths } from '../config/paths.js';
import type { MailboxConfig } from '../config/schema.js';
import { SyncCliError } from '../errors.js';
import { ClusterKeyError, loadClusterKey, sealedKeyId, type ClusterKeyring } from '../secrets/cluster-key.js';
import { mailboxRef, openCredentialStore, type CredentialStoreKind } from '../secrets/index.js';
import type { ClusterTables } from '../sync/state/shared.js';
import { DatabaseAssignments } from './store.js';

/** Stores whose passwords this host can read and that mean "on this machine" only. */
const LOCAL_STORES: ReadonlySet<CredentialStoreKind> = new Set(['file', 'keychain']);

export interface AssignmentMove {
  /** The mailbox list as it is at the target (what config.json / the table holds after the switch). */
  mailboxes: MailboxConfig[];
  /** Passwords moved into the target store. */
  movedSecrets: number;
  /** Why passwords were not moved (no cluster key), with the fix; null when all were. */
  secretsLeft: { count: number; reason: string; fix: string } | null;
  /** Runs after config.json was switched: removes the moved passwords from their old stores. */
  cleanUp(): Promise<void>;
}

class AssignmentMoveError extends SyncCliError {
  constructor(message: string, remedy: string) {
    super(message, { exitCode: 2, remedy });
  }
}

async function keyringOrReason(paths: Paths, env: NodeJS.ProcessEnv): Promise<ClusterKeyring | ClusterKeyError> {
  try {
    return await loadClusterKey(paths, { env });
  } catch (err) {
    if (err instanceof ClusterKeyError) return err;
    throw err;
  }
}

/** config.json's mailboxes (and their local passwords) → the shared state; from another shared state (`from`), the sealed values as they are. */
export async function moveAssignmentsToCluster(
  mailboxes: MailboxConfig[],
  tables: ClusterTables,
  describe: string,
  paths: Paths,
  env: NodeJS.ProcessEnv = process.env,
  from?: ClusterTables,
): Promise<AssignmentMove> {
  const target = new DatabaseAssignments(tables, describe);
  const existing = await target.list();
  if (!mailboxes.length) {
    // A host joining a cluster: it brings nothing and takes the cluster's assignments.
    return { mailboxes: existing, movedSecrets: 0, secretsLeft: null, cleanUp: async () => undefined };
  }
  if (existing.length) {
    throw new AssignmentMoveError(
      `${describe} already holds ${existing.length} assignment(s) and this installation has ${mailboxes.length} of its own; nothing was moved`,
      'point at an empty schema (--schema NAME), or unassign the mailboxes here first (this host then joins the cluster with its assignments)',
    );
  }
  for (const m of mailboxes) {
    // Sealed under the cluster key and bound to its ref only: it opens in any schema.
    const sealed = m.credentialStore === 'cluster' && from ? await from.getSealedSecret(mailboxRef(m.user)) : null;
    if (sealed !== null) await tables.putSealedSecret(mailboxRef(m.user), sealed, sealedKeyId(sealed));
  }
  const movable = mailboxes.filter((m) => LOCAL_STORES.has(m.credentialStore) && !m.url.startsWith('file:'));
  const keyring = movable.length ? await keyringOrReason(paths, env) : null;
  const moved: MailboxConfig[] = [];
  const next = await Promise.all(
    mailboxes.map(async (m) => {
      if (!keyring || keyring instanceof ClusterKeyError || !movable.includes(m)) return m;
      const ref = mailboxRef(m.user);
      const password = await openCredentialStore(m.credentialStore, paths, env).get(ref);
      if (password === null) return m; // nothing to move; the mailbox keeps failing as before (doctor says why)
      await tables.putSealedSecret(ref, keyring.seal(password, ref), keyring.currentId);
      const sealed = await tables.getSealedSecret(ref);
      if (sealed === null || keyring.open(sealed, ref) !== password) {
        throw new AssignmentMoveError(`the sealed password of mailbox ${m.user} reads back differently from ${describe}; nothing was switched`, 'report this as a bug');
      }
      moved.push(m);
      return { ...m, credentialStore: 'cluster' as const };
    }),
  );
  await target.change(next, []);
  const readBack = await target.list();
  if (!isDeepStrictEqual(sortByUser(readBack), sortByUser(next))) {
    throw new AssignmentMoveError(`the assignments read back differently from ${describe}; nothing was switched`, 'report this as a bug');
  }
  const left = movable.length - moved.length;
  return {
    mailboxes: readBack,
    movedSecrets: moved.length,
    secretsLeft:
      left && keyring instanceof ClusterKeyError
        ? { count: left, reason: keyring.message, fix: `${keyring.remedy ?? ''} Then store each one sealed: sync-cli users assign USER --url URL --username NAME --credential-store cluster --password-stdin`.trim() }
        : null,
    async cleanUp() {
      for (const m of moved) await openCredentialStore(m.credentialStore, paths, env).delete(mailboxRef(m.user)).catch(() => undefined);
    },
  };
}

/** The shared state's assignments → config.json; sealed passwords → the 0600 file store. */
export async function moveAssignmentsFromCluster(tables: ClusterTables, describe: string, paths: Paths, env: NodeJS.ProcessEnv = process.env): Promise<AssignmentMove> {
  const source = await new DatabaseAssignments(tables, describe).list();
  const sealed = source.filter((m) => m.credentialStore === 'cluster');
  if (!sealed.length) return { mailboxes: source, movedSecrets: 0, secretsLeft: null, cleanUp: async () => undefined };
  const keyring = await keyringOrReason(paths, env);
  if (keyring instanceof ClusterKeyError) {
    throw new AssignmentMoveError(`${sealed.length} mailbox password(s) are sealed under the cluster key, which this host cannot read (${keyring.message}); nothing was changed`, keyring.remedy ?? 'give this host the cluster key');
  }
  const file = openCredentialStore('file', paths, env);
  const next: MailboxConfig[] = [];
  for (const m of source) {
    if (m.credentialStore !== 'cluster') {
      next.push(m);
      continue;
    }
    const ref = mailboxRef(m.user);
    const value = await tables.getSealedSecret(ref);
    if (value !== null) {
      const password = keyring.open(value, ref);
      await file.set(ref, password);
      if ((await file.get(ref)) !== password) throw new AssignmentMoveError(`the password of mailbox ${m.user} reads back differently from ${file.describe(ref)}; nothing was switched`, 'check the disk under --home');
    }
    next.push({ ...m, credentialStore: 'file' });
  }
  return { mailboxes: next, movedSecrets: sealed.length, secretsLeft: null, cleanUp: async () => undefined };
}

const sortByUser = (list: MailboxConfig[]) => [...list].sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
