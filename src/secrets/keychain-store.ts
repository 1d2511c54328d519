// The OS keychain (macOS Keychain, Windows Credential Manager, Secret Service on Linux) through
// @napi-rs/keyring: service "sync-cli", account = the ref (`mailbox:<user>`).
// On Linux the entry is pinned to the Secret Service: keyring's fallback, the kernel keyring,
// forgets everything at logout/reboot, so the daemon would not find what `assign` stored.
import { CredentialStoreError, type CredentialStore, type StoreAvailability } from './store.js';

export const KEYCHAIN_SERVICE = 'sync-cli';
const PROBE_TIMEOUT_MS = 3000;

type KeyringModule = typeof import('@napi-rs/keyring');
type AsyncEntry = InstanceType<KeyringModule['AsyncEntry']>;

let keyringModule: Promise<KeyringModule> | undefined;
function loadKeyring(): Promise<KeyringModule> {
  keyringModule ??= import('@napi-rs/keyring');
  return keyringModule;
}

function keychainError(action: string, err: unknown): CredentialStoreError {
  const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return new CredentialStoreError(
    `The OS keychain could not ${action}: ${reason}`,
    process.platform === 'linux'
      ? 'Start a Secret Service (gnome-keyring, KeePassXC) in this session, or assign with --credential-store file (or systemd for the system service).'
      : 'Unlock the keychain, or assign with --credential-store file.',
    err,
  );
}

export class KeychainCredentialStore implements CredentialStore {
  readonly kind = 'keychain' as const;

  private async entry(ref: string): Promise<AsyncEntry> {
    const { AsyncEntry } = await loadKeyring();
    try {
      return new AsyncEntry(KEYCHAIN_SERVICE, ref, { linux: { store: 'secret-service' } });
    } catch (err) {
      throw keychainError('be opened', err);
    }
  }

  async get(ref: string): Promise<string | null> {
    const entry = await this.entry(ref);
    try {
      return await withTimeout(entry.getPassword(), 'read a secret');
    } catch (err) {
      throw err instanceof CredentialStoreError ? err : keychainError('read a secret', err);
    }
  }

  async set(ref: string, secret: string): Promise<void> {
    const entry = await this.entry(ref);
    try {
      await withTimeout(entry.setPassword(secret), 'store a secret');
    } catch (err) {
      throw err instanceof CredentialStoreError ? err : keychainError('store a secret', err);
    }
  }

  async delete(ref: string): Promise<void> {
    const entry = await this.entry(ref);
    try {
      await withTimeout(entry.deleteCredential(), 'delete a secret');
    } catch (err) {
      throw err instanceof CredentialStoreError ? err : keychainError('delete a secret', err);
    }
  }

  async available(): Promise<StoreAvailability> {
    try {
      await this.get('probe');
      return { ok: true, detail: process.platform === 'linux' ? 'Secret Service (D-Bus) answers' : 'OS keychain answers' };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }

  describe(ref: string): string {
    return `OS keychain, service "${KEYCHAIN_SERVICE}", account "${ref}"`;
  }
}

// A locked keychain can wait for a prompt nobody answers (no desktop); do not hang the CLI.
function withTimeout<T>(p: Promise<T>, action: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(keychainError(action, new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s (locked?)`))), PROBE_TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
