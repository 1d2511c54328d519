// How the admin side talks to a mailbox server: through the DAV provider's openMailbox(),
// behind a small injectable interface so that the assign flow and the TUI can be tested and so
// that `doctor` and "Test connection" share one path.
import type { Config, MailboxConfig } from '../config/schema.js';

export type CollectionKind = 'contacts' | 'appointments' | 'tasks';
export const collectionKinds: readonly CollectionKind[] = ['contacts', 'appointments', 'tasks'];

export interface ProvisionedCollection {
  kind: CollectionKind;
  url: string;
  displayName: string;
  supportsSyncToken: boolean;
}
export type ProvisionedCollections = Record<CollectionKind, ProvisionedCollection>;

export interface MailboxProbe {
  principal: string;
  serverDate?: string;
  skewMs?: number;
}

export interface MailboxAccount {
  url: string;
  username: string;
  password: string;
  auth: MailboxConfig['auth'];
}

/** The part of the DAV provider's MailboxProvider the admin side uses. */
export interface MailboxConnection {
  provision(names: Record<CollectionKind, string>, known?: Partial<Record<CollectionKind, string>>): Promise<ProvisionedCollections>;
  probe(): Promise<MailboxProbe>;
  close(): Promise<void> | void;
}

export type MailboxConnector = (account: MailboxAccount, dav: Config['dav']) => Promise<MailboxConnection>;

/** The real connector: src/providers/dav/index.ts openMailbox(). */
export const davConnector: MailboxConnector = async (account, dav) => {
  // TODO(issue 5): typed import once src/providers/dav/index.ts lands.
  const davModule = '../providers/dav/index.js';
  const { openMailbox } = (await import(davModule)) as { openMailbox: (a: MailboxAccount, o: object) => unknown };
  return openMailbox(account, {
    timeoutMs: dav.timeoutMs,
    retries: dav.retries,
    concurrency: dav.concurrency,
    ...(dav.caFile ? { caFile: dav.caFile } : {}),
  }) as unknown as MailboxConnection;
};
