// Public entry of the mailbox side: open a CardDAV/CalDAV account (or a vdir folder, see
// ../vdir/) and get a MailboxProvider.
import { DavMailbox } from './provider.js';
import type { MailboxAccount, MailboxProvider, TransportOptions } from './types.js';

export * from './types.js';
export * from './errors.js';
export { openVdirMailbox } from '../vdir/index.js';

export function openMailbox(account: MailboxAccount, opts: TransportOptions): MailboxProvider {
  return new DavMailbox(account, opts);
}
