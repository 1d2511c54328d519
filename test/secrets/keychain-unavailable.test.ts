// Without a Secret Service the keychain store says so (and `assign` falls back to the file).
// A file of its own: the keyring library keeps its D-Bus connection for the process's life.
import { describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/config/paths.js';
import { KeychainCredentialStore, defaultCredentialStoreKind } from '../../src/secrets/index.js';

describe('keychain credential store without a Secret Service', () => {
  it('is reported unavailable with the fix, and the default store is the file', async () => {
    process.env.DBUS_SESSION_BUS_ADDRESS = 'unix:path=/nonexistent/sync-cli-test-bus';
    const availability = await new KeychainCredentialStore().available();
    expect(availability.ok).toBe(false);
    expect(availability.detail).toMatch(/keychain could not/i);
    expect(await defaultCredentialStoreKind(resolvePaths('/tmp/unused-home'))).toBe('file');
  });
});
