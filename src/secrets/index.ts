// Where mailbox passwords live (R25). The sync engine and the daemon call getMailboxPassword();
// `users assign|unassign` and `configure` call storeMailboxPassword()/deleteMailboxPassword().
import path from 'node:path';
import type { Paths } from '../config/paths.js';
import type { MailboxConfig } from '../config/schema.js';
import { registerSecret } from '../log/redact.js';
import { EnvCredentialStore } from './env-store.js';
import { FileCredentialStore } from './file-store.js';
import { KeychainCredentialStore } from './keychain-store.js';
import { CredentialMissingError, mailboxRef, type CredentialStore, type CredentialStoreKind } from './store.js';
import { SystemdCredentialStore } from './systemd-store.js';
import { ClusterCredentialStore } from './cluster-store.js';

export { CredentialMissingError, CredentialStoreError, credentialStoreKinds, mailboxRef } from './store.js';
export type { CredentialStore, CredentialStoreKind, StoreAvailability } from './store.js';
export { passwordEnvName } from './env-store.js';
export { systemdCredentialName } from './systemd-store.js';
export { FileCredentialStore, EnvCredentialStore, KeychainCredentialStore, SystemdCredentialStore };

/** Folder of the encrypted systemd credential files. */
export function systemdCredentialsDir(paths: Paths): string {
  return path.join(paths.dataDir, 'credentials');
}

export function openCredentialStore(kind: CredentialStoreKind, paths: Paths, env: NodeJS.ProcessEnv = process.env): CredentialStore {
  switch (kind) {
    case 'keychain':
      return new KeychainCredentialStore();
    case 'systemd':
      return new SystemdCredentialStore(systemdCredentialsDir(paths), env);
    case 'file':
      return new FileCredentialStore(paths.secretsFile);
    case 'env':
      return new EnvCredentialStore(env);
    case 'cluster':
      return new ClusterCredentialStore(paths, env);
  }
}

/** The store `assign` uses without --credential-store: `cluster` when the state is shared (PostgreSQL), else the keychain if one answers, else the file. */
export async function defaultCredentialStoreKind(paths: Paths, stateKind: 'sqlite' | 'postgres' = 'sqlite'): Promise<CredentialStoreKind> {
  if (stateKind === 'postgres') return 'cluster';
  const keychain = openCredentialStore('keychain', paths);
  return (await keychain.available()).ok ? 'keychain' : 'file';
}

type MailboxSecretRef = Pick<MailboxConfig, 'user' | 'credentialStore'>;

/**
 * The password of a mailbox from the store its assignment names. Registers it with the
 * redaction layer before returning. Throws CredentialMissingError (exit 2, with the fix) when
 * the store holds none, CredentialStoreError when the store cannot be used.
 */
export async function getMailboxPassword(mailbox: MailboxSecretRef, paths: Paths, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const ref = mailboxRef(mailbox.user);
  const store = openCredentialStore(mailbox.credentialStore, paths, env);
  const secret = await store.get(ref);
  if (secret === null || secret === '') throw new CredentialMissingError(mailbox.user, store.kind, store.describe(ref));
  registerSecret(secret);
  return secret;
}

/** Keeps a mailbox password in the store the assignment names (for `env`: checks only). */
export async function storeMailboxPassword(mailbox: MailboxSecretRef, password: string, paths: Paths, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  registerSecret(password);
  await openCredentialStore(mailbox.credentialStore, paths, env).set(mailboxRef(mailbox.user), password);
}

/** Removes a mailbox password from its store; a no-op when there is none. */
export async function deleteMailboxPassword(mailbox: MailboxSecretRef, paths: Paths, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await openCredentialStore(mailbox.credentialStore, paths, env).delete(mailboxRef(mailbox.user));
}

/** Where a mailbox's password is kept, for messages and `users list` (never the password). */
export function describeMailboxSecret(mailbox: MailboxSecretRef, paths: Paths): string {
  return openCredentialStore(mailbox.credentialStore, paths).describe(mailboxRef(mailbox.user));
}

/** The `LoadCredentialEncrypted=` lines a systemd unit needs for the mailboxes that use systemd credentials. */
export function systemdUnitCredentialLines(mailboxes: MailboxSecretRef[], paths: Paths): string[] {
  const store = new SystemdCredentialStore(systemdCredentialsDir(paths));
  return mailboxes.filter((m) => m.credentialStore === 'systemd').map((m) => store.unitLine(mailboxRef(m.user)));
}
