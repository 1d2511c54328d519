// How the admin side talks to a mailbox server: through the DAV provider's openMailbox(),
// behind a small injectable interface so that the assign flow and the TUI can be tested and so
// that `doctor` and "Test connection" share one path.
import type { Config, MailboxConfig } from '../config/schema.js';
import type { ServerDiagnosis } from '../providers/dav/quirks.js';
import type { CollectionKind } from '../providers/dav/types.js';

export type { CollectionKind };
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
  trustedOrigins?: string[];
}

/** The part of the DAV provider's MailboxProvider the admin side uses. */
export interface MailboxConnection {
  provision(names: Record<CollectionKind, string>, known?: Partial<Record<CollectionKind, string>>): Promise<ProvisionedCollections>;
  probe(): Promise<MailboxProbe>;
  /** After provision: what the server does with preconditions and sync tokens, its name (DAV only). */
  diagnose?(collections: ProvisionedCollections): Promise<ServerDiagnosis>;
  close(): Promise<void> | void;
}

export type MailboxConnector = (account: MailboxAccount, dav: Config['dav']) => Promise<MailboxConnection>;

/** The real connector: src/providers/dav/index.ts openMailbox(), loaded only when a mailbox is contacted. */
export const davConnector: MailboxConnector = async (account, dav) => {
  const { openMailbox, openVdirMailbox } = await import('../providers/dav/index.js');
  if (account.url.startsWith('file:')) return openVdirMailbox((await import('node:url')).fileURLToPath(account.url));
  return openMailbox(account, {
    timeoutMs: dav.timeoutMs,
    retries: dav.retries,
    concurrency: dav.concurrency,
    ...(dav.caFile ? { caFile: dav.caFile } : {}),
  });
};
