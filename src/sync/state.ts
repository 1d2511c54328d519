// The state store (better-sqlite3, WAL, 0600): what the last sync agreed on, per mailbox.
// It holds ids, hrefs, ETags, versions and hashes only — no personal data (R25 and the issue).
import { shorten } from '../providers/dav/errors.js';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import type { CrmCursor, RecordKind } from '../providers/crm/model.js';


/** Longest error message kept in the state store (status and retry records). */
const MAX_STORED_MESSAGE = 1000;

export type CollectionKind = 'contacts' | 'appointments' | 'tasks';
export type MailboxState = 'not-started' | 'in-progress' | 'success' | 'failed';

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

const MIGRATIONS: string[] = [
  // v1
  `CREATE TABLE mailbox (
     user TEXT PRIMARY KEY, state TEXT NOT NULL DEFAULT 'not-started', last_success TEXT, last_error TEXT,
     next_run TEXT, pending INTEGER NOT NULL DEFAULT 0, started_at TEXT, finished_at TEXT,
     cursors TEXT, identity TEXT);
   CREATE TABLE collection (
     user TEXT NOT NULL, kind TEXT NOT NULL, url TEXT NOT NULL, sync_token TEXT,
     PRIMARY KEY (user, kind));
   CREATE TABLE item (
     user TEXT NOT NULL, kind TEXT NOT NULL, crm_id TEXT NOT NULL, collection TEXT NOT NULL,
     href TEXT NOT NULL, etag TEXT NOT NULL, crm_version TEXT NOT NULL, content_hash TEXT NOT NULL,
     field_hashes TEXT NOT NULL, reason TEXT NOT NULL, links TEXT NOT NULL DEFAULT '[]',
     PRIMARY KEY (user, kind, crm_id));
   CREATE UNIQUE INDEX item_href ON item (user, href);
   CREATE TABLE foreign_item (
     user TEXT NOT NULL, collection TEXT NOT NULL, href TEXT NOT NULL, etag TEXT NOT NULL, reason TEXT NOT NULL,
     PRIMARY KEY (user, href));
   CREATE TABLE exclusion (
     user TEXT NOT NULL, kind TEXT NOT NULL, crm_id TEXT NOT NULL, since TEXT NOT NULL,
     PRIMARY KEY (user, kind, crm_id));
   CREATE TABLE retry (
     user TEXT NOT NULL, side TEXT NOT NULL, key TEXT NOT NULL, message TEXT NOT NULL,
     PRIMARY KEY (user, side, key));`,
  // v2 (issue #13): what the mailbox server was probed to ignore, and the last full comparison.
  `ALTER TABLE mailbox ADD COLUMN server_quirks TEXT;
   ALTER TABLE mailbox ADD COLUMN last_full TEXT;`,
];

interface ItemRow {
  user: string;
  kind: string;
  crm_id: string;
  collection: string;
  href: string;
  etag: string;
  crm_version: string;
  content_hash: string;
  field_hashes: string;
  reason: string;
  links: string;
}

function rowToItem(r: ItemRow): ItemState {
  return {
    user: r.user,
    kind: r.kind as RecordKind,
    crmId: r.crm_id,
    collection: r.collection as CollectionKind,
    href: r.href,
    etag: r.etag,
    crmVersion: r.crm_version,
    contentHash: r.content_hash,
    fieldHashes: JSON.parse(r.field_hashes) as Record<string, string>,
    reason: r.reason as ItemState['reason'],
    links: JSON.parse(r.links) as string[],
  };
}

/** `attention`: device items that cannot be read or cannot go into the CRM (D30), key = href,
 *  message = JSON { etag, collection, message }; not a failure, reported once per change. */
export type RetrySide = 'crm' | 'device' | 'import' | 'create' | 'attention';

export interface AttentionItem {
  href: string;
  etag: string;
  collection: string;
  message: string;
}

export function parseAttention(entries: Map<string, string>): Map<string, AttentionItem> {
  const out = new Map<string, AttentionItem>();
  for (const [href, v] of entries) {
    try {
      const j = JSON.parse(v) as Partial<AttentionItem>;
      out.set(href, { href, etag: String(j.etag ?? ''), collection: String(j.collection ?? ''), message: String(j.message ?? '') });
    } catch {
      out.set(href, { href, etag: '', collection: '', message: v });
    }
  }
  return out;
}

export class StateStore {
  readonly db: Database.Database;

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    if (!fs.existsSync(file)) fs.closeSync(fs.openSync(file, 'a', 0o600));
    fs.chmodSync(file, 0o600);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
  }

  private migrate(): void {
    // IMMEDIATE + reading the version inside: two processes opening a new store at once (the
    // daemon starting while `status` runs) must not both run a migration.
    this.db
      .transaction(() => {
        const version = this.db.pragma('user_version', { simple: true }) as number;
        for (let v = version; v < MIGRATIONS.length; v++) {
          this.db.exec(MIGRATIONS[v]!);
          this.db.pragma(`user_version = ${v + 1}`);
        }
      })
      .immediate();
  }

  close(): void {
    this.db.close();
  }

  /** Statements are prepared once per store: preparing is a measurable share of a large sync. */
  private readonly statements = new Map<string, Database.Statement>();
  private sql(text: string): Database.Statement {
    let st = this.statements.get(text);
    if (!st) {
      st = this.db.prepare(text);
      this.statements.set(text, st);
    }
    return st;
  }

  /** One transaction wrapper for the store's life: each db.transaction() prepares BEGIN/COMMIT anew. */
  private txRunner: ((fn: () => unknown) => unknown) | undefined;

  transaction<T>(fn: () => T): T {
    this.txRunner ??= this.db.transaction((f: () => unknown) => f());
    return this.txRunner(fn) as T;
  }

  // --- mailbox status (R22) ---
  getStatus(user: string): MailboxStatus {
    const r = this.sql('SELECT * FROM mailbox WHERE user = ?').get(user) as Record<string, unknown> | undefined;
    return {
      user,
      state: (r?.state as MailboxState) ?? 'not-started',
      lastSuccess: (r?.last_success as string) ?? null,
      lastError: (r?.last_error as string) ?? null,
      nextRun: (r?.next_run as string) ?? null,
      pending: (r?.pending as number) ?? 0,
      startedAt: (r?.started_at as string) ?? null,
      finishedAt: (r?.finished_at as string) ?? null,
    };
  }

  setStatus(user: string, patch: Partial<Omit<MailboxStatus, 'user'>>): void {
    const cur = this.getStatus(user);
    const next = { ...cur, ...patch };
    // A hostile server's answer must not become a 100 kB status line.
    if (next.lastError && next.lastError.length > MAX_STORED_MESSAGE) next.lastError = shorten(next.lastError, MAX_STORED_MESSAGE);
    this
      .sql(
        `INSERT INTO mailbox (user, state, last_success, last_error, next_run, pending, started_at, finished_at)
         VALUES (@user, @state, @lastSuccess, @lastError, @nextRun, @pending, @startedAt, @finishedAt)
         ON CONFLICT(user) DO UPDATE SET state=@state, last_success=@lastSuccess, last_error=@lastError,
           next_run=@nextRun, pending=@pending, started_at=@startedAt, finished_at=@finishedAt`,
      )
      .run(next);
  }

  listStatuses(): MailboxStatus[] {
    const users = this.sql('SELECT user FROM mailbox ORDER BY user').pluck().all() as string[];
    return users.map((u) => this.getStatus(u));
  }

  /**
   * The mailbox identity (server URL + username) the state belongs to. When a user is pointed at
   * another mailbox, the old state is useless: the caller resets it.
   */
  getIdentity(user: string): string | null {
    return (this.sql('SELECT identity FROM mailbox WHERE user = ?').pluck().get(user) as string | null) ?? null;
  }

  setIdentity(user: string, identity: string): void {
    this.setStatus(user, {});
    this.sql('UPDATE mailbox SET identity = ? WHERE user = ?').run(identity, user);
  }

  getCursors(user: string): CrmCursors {
    const raw = this.sql('SELECT cursors FROM mailbox WHERE user = ?').pluck().get(user) as string | null | undefined;
    return raw ? (JSON.parse(raw) as CrmCursors) : { addresses: null, activities: null, tombstones: null };
  }

  setCursors(user: string, cursors: CrmCursors): void {
    this.setStatus(user, {});
    this.sql('UPDATE mailbox SET cursors = ? WHERE user = ?').run(JSON.stringify(cursors), user);
  }

  /** Preconditions the mailbox server was probed to ignore (JSON of ServerQuirks), or null. */
  getServerQuirks(user: string): Record<string, boolean> | null {
    const raw = this.sql('SELECT server_quirks FROM mailbox WHERE user = ?').pluck().get(user) as string | null | undefined;
    return raw ? (JSON.parse(raw) as Record<string, boolean>) : null;
  }

  setServerQuirks(user: string, quirks: object): void {
    this.setStatus(user, {});
    this.sql('UPDATE mailbox SET server_quirks = ? WHERE user = ?').run(JSON.stringify(quirks), user);
  }

  /** When the last full comparison of device and CRM finished (sync.fullEveryHours), ISO time. */
  getLastFull(user: string): string | null {
    return (this.sql('SELECT last_full FROM mailbox WHERE user = ?').pluck().get(user) as string | null | undefined) ?? null;
  }

  setLastFull(user: string, at: string): void {
    this.setStatus(user, {});
    this.sql('UPDATE mailbox SET last_full = ? WHERE user = ?').run(at, user);
  }

  /** Forgets everything about a mailbox (unassigned, pointed elsewhere, retention). */
  resetMailbox(user: string, keepStatus = false): void {
    this.transaction(() => {
      for (const t of ['collection', 'item', 'foreign_item', 'exclusion', 'retry']) {
        this.sql(`DELETE FROM ${t} WHERE user = ?`).run(user);
      }
      if (keepStatus) this.sql('UPDATE mailbox SET cursors = NULL, server_quirks = NULL, last_full = NULL WHERE user = ?').run(user);
      else this.sql('DELETE FROM mailbox WHERE user = ?').run(user);
    });
  }

  // --- collections ---
  getCollections(user: string): Partial<Record<CollectionKind, { url: string; token: string | null }>> {
    const rows = this.sql('SELECT kind, url, sync_token FROM collection WHERE user = ?').all(user) as {
      kind: CollectionKind;
      url: string;
      sync_token: string | null;
    }[];
    return Object.fromEntries(rows.map((r) => [r.kind, { url: r.url, token: r.sync_token }]));
  }

  setCollection(user: string, kind: CollectionKind, url: string, token: string | null): void {
    this
      .sql(
        `INSERT INTO collection (user, kind, url, sync_token) VALUES (?, ?, ?, ?)
         ON CONFLICT(user, kind) DO UPDATE SET url = excluded.url, sync_token = excluded.sync_token`,
      )
      .run(user, kind, url, token);
  }

  // --- items ---
  listItems(user: string): ItemState[] {
    return (this.sql('SELECT * FROM item WHERE user = ?').all(user) as ItemRow[]).map(rowToItem);
  }

  /** The CRM version of a record as this mailbox last agreed it; undefined when it holds none. */
  crmVersionOf(user: string, kind: RecordKind, crmId: string): string | undefined {
    return (this.sql('SELECT crm_version FROM item WHERE user = ? AND kind = ? AND crm_id = ?').pluck().get(user, kind, crmId) as string | undefined) ?? undefined;
  }

  /** The ETag sync-cli last stored for a device item (item or device-only), if any. */
  etagOf(user: string, href: string): string | undefined {
    return (this.sql('SELECT etag FROM item WHERE user = ? AND href = ? UNION ALL SELECT etag FROM foreign_item WHERE user = ? AND href = ?').pluck().get(user, href, user, href) as string | undefined) ?? undefined;
  }

  upsertItem(item: ItemState): void {
    this
      .sql(
        `INSERT INTO item (user, kind, crm_id, collection, href, etag, crm_version, content_hash, field_hashes, reason, links)
         VALUES (@user, @kind, @crmId, @collection, @href, @etag, @crmVersion, @contentHash, @fieldHashes, @reason, @links)
         ON CONFLICT(user, kind, crm_id) DO UPDATE SET collection=@collection, href=@href, etag=@etag,
           crm_version=@crmVersion, content_hash=@contentHash, field_hashes=@fieldHashes, reason=@reason, links=@links`,
      )
      .run({ ...item, fieldHashes: JSON.stringify(item.fieldHashes), links: JSON.stringify(item.links) });
    // A device create that was pending is settled once the item is known; an item imported from
    // the device is no longer device-only.
    this.sql("DELETE FROM retry WHERE user = ? AND side = 'create' AND key = ?").run(item.user, `${item.kind}:${item.crmId}`);
    this.sql('DELETE FROM foreign_item WHERE user = ? AND href = ?').run(item.user, item.href);
  }

  deleteItem(user: string, kind: RecordKind, crmId: string): void {
    this.sql('DELETE FROM item WHERE user = ? AND kind = ? AND crm_id = ?').run(user, kind, crmId);
  }

  // --- foreign device items ---
  listForeign(user: string): ForeignItem[] {
    return this.sql('SELECT user, collection, href, etag, reason FROM foreign_item WHERE user = ?').all(user) as ForeignItem[];
  }

  upsertForeign(f: ForeignItem): void {
    this
      .sql(
        `INSERT INTO foreign_item (user, collection, href, etag, reason) VALUES (@user, @collection, @href, @etag, @reason)
         ON CONFLICT(user, href) DO UPDATE SET etag=@etag, reason=@reason, collection=@collection`,
      )
      .run(f);
  }

  deleteForeign(user: string, href: string): void {
    this.sql('DELETE FROM foreign_item WHERE user = ? AND href = ?').run(user, href);
  }

  // --- R7 exclusions ---
  listExclusions(user: string): Set<string> {
    const rows = this.sql('SELECT kind, crm_id FROM exclusion WHERE user = ?').all(user) as { kind: string; crm_id: string }[];
    return new Set(rows.map((r) => `${r.kind}:${r.crm_id}`));
  }

  addExclusion(user: string, kind: RecordKind, crmId: string, since: string): void {
    this.sql('INSERT OR REPLACE INTO exclusion (user, kind, crm_id, since) VALUES (?, ?, ?, ?)').run(user, kind, crmId, since);
  }

  removeExclusion(user: string, kind: RecordKind, crmId: string): void {
    this.sql('DELETE FROM exclusion WHERE user = ? AND kind = ? AND crm_id = ?').run(user, kind, crmId);
  }

  // --- items to retry at the next sync (R22) ---
  listRetries(user: string, side: RetrySide): Map<string, string> {
    const rows = this.sql('SELECT key, message FROM retry WHERE user = ? AND side = ?').all(user, side) as { key: string; message: string }[];
    return new Map(rows.map((r) => [r.key, r.message]));
  }

  setRetry(user: string, side: RetrySide, key: string, message: string): void {
    // 'import'/'create' records carry data (JSON), the others a message for people: cut those.
    const text = side === 'crm' || side === 'device' ? shorten(message, MAX_STORED_MESSAGE) : message;
    this.sql('INSERT OR REPLACE INTO retry (user, side, key, message) VALUES (?, ?, ?, ?)').run(user, side, key, text);
  }

  clearRetries(user: string, side: RetrySide): void {
    this.sql('DELETE FROM retry WHERE user = ? AND side = ?').run(user, side);
  }

  clearRetry(user: string, side: RetrySide, key: string): void {
    this.sql('DELETE FROM retry WHERE user = ? AND side = ? AND key = ?').run(user, side, key);
  }

  /** Device items that need the user's attention (D30). */
  listAttention(user: string): AttentionItem[] {
    return [...parseAttention(this.listRetries(user, 'attention')).values()];
  }

  /** Users with state but no assignment any more, or not synced for `days` (retention). */
  staleUsers(assigned: Set<string>, olderThan: string): string[] {
    const rows = this.sql('SELECT user, last_success, finished_at FROM mailbox').all() as {
      user: string;
      last_success: string | null;
      finished_at: string | null;
    }[];
    return rows
      .filter((r) => !assigned.has(r.user) || ((r.last_success ?? r.finished_at ?? '') !== '' && (r.last_success ?? r.finished_at)! < olderThan))
      .map((r) => r.user);
  }
}
