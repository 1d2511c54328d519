// Passwords given to the process at run time as SYNC_CLI_PASSWORD_<USER> (containers, CI,
// secret managers that inject environment variables). Nothing is stored.
import { CredentialStoreError, type CredentialStore, type StoreAvailability } from './store.js';

/** `mailbox:u-1` → `SYNC_CLI_PASSWORD_U_1` (the CRM user id, upper-cased, other chars → `_`). */
export function passwordEnvName(ref: string): string {
  const user = ref.replace(/^mailbox:/, '');
  return `SYNC_CLI_PASSWORD_${user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export class EnvCredentialStore implements CredentialStore {
  readonly kind = 'env' as const;
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async get(ref: string): Promise<string | null> {
    const value = this.env[passwordEnvName(ref)];
    return value ? value : null;
  }

  async set(ref: string, _secret: string): Promise<void> {
    // Nothing to keep: the service manager or shell provides the variable at run time. We only
    // insist that it matches, so that the daemon will not fail later with a surprise.
    const name = passwordEnvName(ref);
    if (this.env[name] !== undefined && this.env[name] !== _secret) {
      throw new CredentialStoreError(`${name} is set but holds a different password than the one given`, `Set ${name} to the new password where the daemon runs, or unset it here.`);
    }
  }

  async delete(_ref: string): Promise<void> {}

  async available(): Promise<StoreAvailability> {
    return { ok: true, detail: 'read from SYNC_CLI_PASSWORD_<USER> at run time' };
  }

  describe(ref: string): string {
    return `environment variable ${passwordEnvName(ref)}`;
  }
}
