// Moves a whole state from one store to another (`sync-cli state connect postgres`): every
// mailbox's head and records, its status and the field-hash key, through the StateStore
// interface only — so any pair of implementations works. The copy is verified by reading both
// sides back; the source is never changed.
import { isDeepStrictEqual } from 'node:util';
import type { MailboxHead, MailboxRecords, StateChange, StateStore } from './store.js';

export interface CopyReport {
  mailboxes: number;
  items: number;
}

export class StateCopyError extends Error {
  constructor(
    message: string,
    readonly remedy: string,
  ) {
    super(message);
    this.name = 'StateCopyError';
  }
}

/** The changes that rebuild one mailbox's state in an empty store. */
export function changesOf(head: MailboxHead, records: MailboxRecords): StateChange[] {
  const out: StateChange[] = [];
  if (head.identity !== null) out.push({ op: 'identity-put', identity: head.identity });
  out.push({ op: 'cursors-put', cursors: head.cursors });
  if (head.serverQuirks) out.push({ op: 'quirks-put', quirks: head.serverQuirks });
  if (head.lastFull) out.push({ op: 'last-full-put', at: head.lastFull });
  for (const [kind, c] of Object.entries(head.collections)) {
    if (c) out.push({ op: 'collection-put', kind: kind as keyof MailboxHead['collections'], url: c.url, token: c.token });
  }
  for (const item of records.items) out.push({ op: 'item-put', item });
  for (const item of records.deviceOnly) out.push({ op: 'device-only-put', item });
  for (const e of records.exclusions.values()) out.push({ op: 'exclusion-put', ref: { kind: e.kind, crmId: e.crmId }, since: e.since });
  for (const item of records.attention.values()) out.push({ op: 'attention-put', item });
  for (const f of head.failedRecords.values()) out.push({ op: 'record-failed', ref: f.ref, message: f.message });
  for (const [href, message] of head.failedItems) out.push({ op: 'item-failed', href, message });
  for (const href of head.pendingImports) out.push({ op: 'import-pending', href });
  for (const p of head.pendingCreates.values()) out.push({ op: 'create-pending', ref: p.ref, fieldHashes: p.fieldHashes });
  return out;
}

const sortedItems = (r: MailboxRecords) => ({
  ...r,
  items: [...r.items].sort((a, b) => (a.kind + a.crmId < b.kind + b.crmId ? -1 : 1)),
  deviceOnly: [...r.deviceOnly].sort((a, b) => (a.href < b.href ? -1 : 1)),
});

/**
 * Copies every mailbox of `from` into `to`, which must hold no mailbox yet. One transaction per
 * mailbox; on any difference found when reading back, throws (the target then holds a partial
 * copy the caller drops — the installation still points at the source).
 */
export async function copyState(from: StateStore, to: StateStore, onProgress?: (done: number, total: number) => void): Promise<CopyReport> {
  const existing = await to.listStatuses();
  if (existing.length) {
    throw new StateCopyError(
      `${to.describe} already holds the state of ${existing.length} mailbox(es); nothing was copied`,
      'point at an empty database or schema (--schema NAME), or remove that state first',
    );
  }
  const key = await from.fieldHashKey();
  if ((await to.fieldHashKey(key)) !== key) {
    throw new StateCopyError(
      `${to.describe} already has another field-hash key: the moved state's hashes would not match and every field would look changed; nothing was copied`,
      'point at an empty database or schema (--schema NAME)',
    );
  }
  const statuses = await from.listStatuses();
  let items = 0;
  for (const [i, status] of statuses.entries()) {
    const head = await from.loadMailbox(status.user);
    const records = await from.loadRecords(status.user);
    await to.apply(status.user, changesOf(head, records));
    const { user: _user, ...patch } = status;
    await to.setStatus(status.user, patch);
    const [head2, records2] = [await to.loadMailbox(status.user), await to.loadRecords(status.user)];
    if (!isDeepStrictEqual(head2, head) || !isDeepStrictEqual(sortedItems(records2), sortedItems(records))) {
      throw new StateCopyError(`the copy of mailbox ${status.user} reads back differently from ${to.describe}; the installation still uses ${from.describe}`, 'report this as a bug; nothing was switched');
    }
    items += records.items.length;
    onProgress?.(i + 1, statuses.length);
  }
  return { mailboxes: statuses.length, items };
}
