// The credential store contract (R25): a mailbox password lives in exactly one of these
// backends, chosen at assign time and recorded as `credentialStore` in config.json. Nothing
// but the name of the backend is ever written to the config.
import { SyncCliError } from '../errors.js';

export type CredentialStoreKind = 'keychain' | 'systemd' | 'file' | 'env' | 'cluster';
export const credentialStoreKinds: readonly CredentialStoreKind[] = ['keychain', 'systemd', 'file', 'env', 'cluster'];

export interface StoreAvailability {
  ok: boolean;
  /** What the store is (where it keeps secrets), or why it cannot be used. */
  detail: string;
  /** When it cannot be used: what to do. */
  fix?: string;
}

export interface CredentialStore {
  readonly kind: CredentialStoreKind;
  /** The secret for `ref`, or null when the store holds none. */
  get(ref: string): Promise<string | null>;
  set(ref: string, secret: string): Promise<void>;
  /** Removes the secret; a no-op when there is none. */
  delete(ref: string): Promise<void>;
  /** Whether this store can be used on this machine right now. */
  available(): Promise<StoreAvailability>;
  /** Where the secret for `ref` is or would be kept, for messages (never the secret). */
  describe(ref: string): string;
}

/** The reference of a mailbox's secret: `mailbox:<CRM user id>`. */
export function mailboxRef(userId: string): string {
  return `mailbox:${userId}`;
}

/** A store cannot be used, or it failed while reading/writing. */
export class CredentialStoreError extends SyncCliError {
  constructor(message: string, remedy?: string, cause?: unknown) {
    super(message, { exitCode: 2, remedy, cause });
  }
}

/** The store answered but holds no secret for this mailbox. */
export class CredentialMissingError extends SyncCliError {
  constructor(
    readonly userId: string,
    readonly store: CredentialStoreKind,
    where: string,
  ) {
    super(`No password for the mailbox of CRM user ${userId} in the ${store} credential store (${where})`, {
      exitCode: 2,
      remedy: `Store it again: sync-cli users assign ${userId} --url URL --username NAME --password-stdin (with the same --credential-store ${store})`,
    });
  }
}
