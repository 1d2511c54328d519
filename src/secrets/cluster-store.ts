// The `cluster` credential store (issue #16, D88): each mailbox password sealed with AES-256-GCM
// under the cluster key (cluster-key.ts) and kept, as ciphertext only, in the state database's
// `sealed_secret` table — so every host of a cluster can sync every mailbox, and a host without
// the key can sync none of them. The key is read from this host's own source (systemd
// credential, env, 0600 file, keychain) and never written anywhere by this store.
import type { Paths } from '../config/paths.js';
import { registeredClusterTables, type ClusterTables } from '../sync/state/shared.js';
import { ClusterKeyError, loadClusterKey, type ClusterKeyring } from './cluster-key.js';
import type { CredentialStore, StoreAvailability } from './store.js';

const opened = new Map<string, Promise<ClusterTables>>();

async function tablesFor(paths: Paths, env: NodeJS.ProcessEnv): Promise<ClusterTables> {
  let p = registeredClusterTables(paths.configFile) ?? opened.get(paths.configFile);
  if (!p) {
    p = (async () => {
      const { loadConfig } = await import('../config/load.js');
      const { openStateStore } = await import('../sync/state/open.js');
      const { clusterTablesOf } = await import('../sync/state/shared.js');
      const state = loadConfig(paths.configFile).state;
      if (state.kind !== 'postgres') {
        throw new ClusterKeyError(
          'The cluster credential store keeps passwords in the shared PostgreSQL state, but this installation keeps its state in SQLite',
          'Connect the state first (sync-cli state connect postgres --url URL), or assign the mailbox with --credential-store file',
        );
      }
      // Not closed by anyone: the pool lets the process exit when idle.
      return clusterTablesOf(await openStateStore(state, paths, env, { exitOnIdle: true }))!;
    })();
    opened.set(paths.configFile, p);
    p.catch(() => opened.delete(paths.configFile));
  }
  return p;
}

const keyrings = new Map<string, Promise<ClusterKeyring>>();

export class ClusterCredentialStore implements CredentialStore {
  readonly kind = 'cluster' as const;

  constructor(
    private readonly paths: Paths,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  private keyring(): Promise<ClusterKeyring> {
    const id = `${this.paths.dataDir}\0${this.env.CREDENTIALS_DIRECTORY ?? ''}\0${this.env.SYNC_CLI_CLUSTER_KEY ?? ''}`;
    let k = keyrings.get(id);
    if (!k) {
      k = loadClusterKey(this.paths, { env: this.env });
      keyrings.set(id, k);
      k.catch(() => keyrings.delete(id));
    }
    return k;
  }

  async get(ref: string): Promise<string | null> {
    const sealed = await (await tablesFor(this.paths, this.env)).getSealedSecret(ref);
    if (sealed === null) return null;
    return (await this.keyring()).open(sealed, ref);
  }

  async set(ref: string, secret: string): Promise<void> {
    // The key first: a host without it writes nothing.
    const keyring = await this.keyring();
    await (await tablesFor(this.paths, this.env)).putSealedSecret(ref, keyring.seal(secret, ref), keyring.currentId);
  }

  async delete(ref: string): Promise<void> {
    await (await tablesFor(this.paths, this.env)).deleteSealedSecret(ref);
  }

  async available(): Promise<StoreAvailability> {
    try {
      const keyring = await this.keyring();
      return { ok: true, detail: `sealed under cluster key ${keyring.currentId} (read from ${keyring.source.where}) in the state database` };
    } catch (err) {
      return { ok: false, detail: `this host cannot open the mailbox passwords sealed in the state database: ${(err as Error).message}`, ...((err as ClusterKeyError).remedy ? { fix: (err as ClusterKeyError).remedy } : {}) };
    }
  }

  describe(ref: string): string {
    return `the state database (sealed_secret ${ref}, under the cluster key)`;
  }
}
