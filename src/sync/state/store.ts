// The state store's contract: what the last sync agreed on, per mailbox — ids, hrefs, ETags,
// versions and keyed hashes only, never personal data (R25). The engine talks to this interface
// only; `sqlite.ts` implements it on better-sqlite3 (the embedded default), a PostgreSQL
// implementation serves a cluster (docs/scale-out.md). No SQL outside src/sync/state/.
//
// Shape: reads are batched (one query per mailbox or per list of keys, never per record) and
// writes are grouped: `apply(user, changes)` carries the state writes of a group of executed
// actions and commits them in ONE transaction, all or nothing. Every method is async so an
// implementation over the network fits without changing its callers.
import type { CrmCursor, RecordKind } from '../../providers/crm/model.js';
import type { CollectionKind } from '../../providers/dav/types.js';

export type { CollectionKind };
export type MailboxState = 'not-started' | 'in-progress' | 'success' | 'failed';

/** A CRM record, by kind and id (ids may contain any character, ':' included). */
export interface RecordRef {
  kind: RecordKind;
  crmId: string;
}

/** One device item that mirrors a CRM record: what both sides agreed on last. */
export interface ItemState {
  user: string;
  kind: RecordKind;
  crmId: string;
  collection: CollectionKind;
  href: string;
  etag: string;
  crmVersion: string;
  contentHash: string;
  /** Per-field hashes of the CRM-owned fields as last agreed (R20 base). */
  fieldHashes: Record<string, string>;
  /** Why the record is on the device: its own tags, or linked to an in-scope appointment (R5). */
  reason: 'scope' | 'linked';
  /** Activities: linked address ids (to know which addresses R5 keeps on the device). */
  links: string[];
}

/** A device item that is deliberately not in the CRM (private with syncPrivate off, …). */
export interface ForeignItem {
  user: string;
  collection: CollectionKind;
  href: string;
  etag: string;
  reason: string;
}

/** A device item that cannot be read or cannot go into the CRM (D30): reported, not a failure. */
export interface AttentionItem {
  href: string;
  etag: string;
  collection: string;
  message: string;
}

export interface MailboxStatus {
  user: string;
  state: MailboxState;
  lastSuccess: string | null;
  lastError: string | null;
  nextRun: string | null;
  pending: number;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface CrmCursors {
  addresses: CrmCursor | null;
  activities: CrmCursor | null;
  tombstones: CrmCursor | null;
  /** Fingerprint of the scope settings the watermark was read under (tags, window, privacy). */
  settings?: string;
  /** CRM clock at the start of the sync that stored these cursors (bounds the overlap, R6). */
  syncStart?: string;
}

/** What a sync reads first, in one call, before it knows whether anything changed. */
export interface MailboxHead {
  status: MailboxStatus;
  /** Server URL + username the state belongs to; another identity means the state is void. */
  identity: string | null;
  cursors: CrmCursors;
  /** Preconditions the mailbox server was probed to ignore, or null when not probed yet. */
  serverQuirks: Record<string, boolean> | null;
  /** When the last full comparison finished (sync.fullEveryHours), ISO time. */
  lastFull: string | null;
  collections: Partial<Record<CollectionKind, { url: string; token: string | null }>>;
  /** Records / device items whose last write failed and that the next sync retries (R22). */
  failedRecords: Map<string, { ref: RecordRef; message: string }>;
  failedItems: Map<string, string>;
  /** Device hrefs whose import into the CRM may have been cut short (R23). */
  pendingImports: Set<string>;
  /** Device creates that may have happened before a crash, with their merge base (R23). */
  pendingCreates: Map<string, { ref: RecordRef; fieldHashes: Record<string, string> }>;
  /** Counts only: the quiet path (D16) needs no rows. */
  deviceOnlyPrivate: number;
}

/** Everything else of one mailbox, read when something changed (one read per table). */
export interface MailboxRecords {
  items: ItemState[];
  deviceOnly: ForeignItem[];
  exclusions: Map<string, RecordRef & { since: string }>;
  attention: Map<string, AttentionItem>;
}

/** What `lookup` found of the records and hrefs asked for. */
export interface LookupResult {
  items: ItemState[];
  deviceOnly: ForeignItem[];
  excluded: Set<string>;
}

/** One state write. `apply` commits a list of them in one transaction. */
export type StateChange =
  | { op: 'item-put'; item: ItemState }
  | { op: 'item-delete'; ref: RecordRef }
  | { op: 'device-only-put'; item: ForeignItem }
  | { op: 'device-only-delete'; href: string }
  | { op: 'exclusion-put'; ref: RecordRef; since: string }
  | { op: 'exclusion-delete'; ref: RecordRef }
  | { op: 'record-failed'; ref: RecordRef; message: string }
  | { op: 'record-settled'; ref: RecordRef }
  | { op: 'item-failed'; href: string; message: string }
  | { op: 'item-settled'; href: string }
  | { op: 'import-pending'; href: string }
  | { op: 'import-settled'; href: string }
  | { op: 'create-pending'; ref: RecordRef; fieldHashes: Record<string, string> }
  | { op: 'create-settled'; ref: RecordRef }
  | { op: 'creates-settled' }
  | { op: 'attention-put'; item: AttentionItem }
  | { op: 'attention-delete'; href: string }
  | { op: 'collection-put'; kind: CollectionKind; url: string; token: string | null }
  | { op: 'cursors-put'; cursors: CrmCursors }
  | { op: 'quirks-put'; quirks: Record<string, boolean> }
  | { op: 'last-full-put'; at: string }
  | { op: 'identity-put'; identity: string }
  /** Forgets everything about the mailbox but its status (pointed elsewhere, collection gone). */
  | { op: 'reset' };

/** A change of a mailbox's status: only the fields given are written. */
export type StatusPatch = Partial<Omit<MailboxStatus, 'user'>>;

/** The column of each status field: the same in every implementation's mailbox table. */
export const STATUS_COLUMNS: Readonly<Record<keyof StatusPatch, string>> = {
  state: 'state', lastSuccess: 'last_success', lastError: 'last_error', nextRun: 'next_run', pending: 'pending', startedAt: 'started_at', finishedAt: 'finished_at',
};

/** The fields a patch sets (a field given as undefined is left as it is). */
export function patchedStatusFields(patch: StatusPatch): (keyof StatusPatch)[] {
  return (Object.keys(patch) as (keyof StatusPatch)[]).filter((k) => k in STATUS_COLUMNS && patch[k] !== undefined);
}

/** Held while one process syncs one mailbox (R24); lost by a dead holder after its lease. */
export interface MailboxLease {
  release(): Promise<void>;
  /** Aborted when the lease is lost while held (a shared store's session died): stop writing. Optional. */
  readonly lost?: AbortSignal;
}

export interface StateStore {
  /** Which implementation, for `doctor` and `status` ("sqlite /path", "postgres host/db"). */
  readonly describe: string;

  loadMailbox(user: string): Promise<MailboxHead>;
  loadRecords(user: string): Promise<MailboxRecords>;
  /** The agreed items among these records and hrefs (one query per list, for the delta path),
   *  the device-only items among the hrefs, and the `kind:id` keys of the records excluded (R7). */
  lookup(user: string, keys: { records?: RecordRef[]; hrefs?: string[] }): Promise<LookupResult>;
  /** The CRM ids of the records the mailbox holds (agreed items), per kind: ids only, one read
   *  (the scoped CRM feed filters by them in the database, issue #16). */
  heldIds(user: string): Promise<{ address: string[]; activity: string[] }>;

  /** One transaction: all changes or none; `status`, when given, is written in the same one
   *  (a sync's last write group and its final status: one round trip on a shared store, D94). */
  apply(user: string, changes: StateChange[], status?: StatusPatch): Promise<void>;

  getStatus(user: string): Promise<MailboxStatus>;
  setStatus(user: string, patch: StatusPatch): Promise<void>;
  /** Many mailboxes' status changes at once (the cluster leader's next runs of a tick): one round trip. */
  setStatuses(patches: ReadonlyMap<string, StatusPatch>): Promise<void>;
  /** Every mailbox with a status or any state (a mailbox that only got `apply`s is listed too), by user. */
  listStatuses(): Promise<MailboxStatus[]>;
  /** Per mailbox: failed records + failed device items + device imports waiting (metrics, status).
   *  Pending creates are not counted: they are crash markers the same sync settles (R23). */
  pendingCounts(): Promise<Map<string, number>>;
  /** Device items needing attention, per mailbox (status). */
  listAttention(user: string): Promise<AttentionItem[]>;

  /** Mailboxes that hold any of these records from an earlier sync (daemon: affected mailboxes). */
  holders(refs: RecordRef[]): Promise<Set<string>>;
  /** Users with state but no assignment, or not synced since `olderThan` (retention). */
  staleUsers(assigned: Set<string>, olderThan: string): Promise<string[]>;
  /** Forgets a mailbox entirely (unassigned, retention). */
  forget(user: string): Promise<void>;

  /** R24 across processes (and, on a shared store, across hosts). Throws MailboxLockedError when held.
   *  `status` is written once the lease is held (a sync's in-progress status; no extra round trip
   *  on a shared store, D94); not written when the lease is refused. */
  lease(user: string, status?: StatusPatch): Promise<MailboxLease>;

  /**
   * The key of the per-field hashes (R20): created once, shared by every process of the store.
   * `adopt`: when the store has no key yet, keep this one instead of a new random key (moving a
   * state from one store to another keeps its hashes valid); a store that has a key keeps it.
   * The key never changes once made, so a store reads it once and answers from memory after.
   */
  fieldHashKey(adopt?: string): Promise<string>;

  close(): Promise<void>;
}

/** `kind:id` as a map key. The kind never holds ':', so the id is everything after the first one. */
export function recordKey(ref: RecordRef): string {
  return `${ref.kind}:${ref.crmId}`;
}

export function parseRecordKey(key: string): RecordRef {
  const i = key.indexOf(':');
  if (i <= 0) throw new Error(`not a record key: ${JSON.stringify(key)}`);
  return { kind: key.slice(0, i) as RecordKind, crmId: key.slice(i + 1) };
}
