// What every host of a cluster shares besides the sync state itself (issue #16, D87, D88): the
// mailbox assignments (config.json's `mailboxes`, one validated MailboxConfig JSON per CRM user,
// plus a revision that changes with every write, so a daemon sees a change with one read) and
// the mailbox passwords sealed under the cluster key (ciphertext only; the key never reaches the
// database). Only a shared store has these tables: PostgreSQL. A single machine on SQLite keeps
// its assignments in config.json and its passwords in the file/keychain/systemd stores.
import type { StateStore } from './store.js';

export interface ClusterTables {
  /** Every assignment as stored (JSON, validated by the caller), by CRM user id. */
  listAssignments(): Promise<{ user: string; mailbox: unknown }[]>;
  /** Puts (user → mailbox) and removes users in ONE transaction, bumping the revision once. */
  writeAssignments(put: { user: string; mailbox: unknown }[], remove: string[]): Promise<void>;
  /** Changes with every write of the assignments ("0" before the first). */
  assignmentRevision(): Promise<string>;

  getSealedSecret(ref: string): Promise<string | null>;
  putSealedSecret(ref: string, sealed: string, keyId: string): Promise<void>;
  deleteSealedSecret(ref: string): Promise<void>;
}

/** The cluster tables of a store, or null for a store that has none (SQLite). */
export function clusterTablesOf(store: StateStore): ClusterTables | null {
  return 'writeAssignments' in store ? (store as unknown as ClusterTables) : null;
}

const registered = new Map<string, Promise<ClusterTables>>();

/** The context hands over the shared store it opened (by config file), so the cluster credential store needs no connection of its own. */
export function useClusterTables(configFile: string, store: Promise<StateStore>): void {
  const tables = store.then((s) => clusterTablesOf(s)!);
  tables.catch(() => undefined);
  registered.set(configFile, tables);
}

export function registeredClusterTables(configFile: string): Promise<ClusterTables> | undefined {
  return registered.get(configFile);
}
