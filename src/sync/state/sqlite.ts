// The embedded state store (better-sqlite3, WAL, 0600): the StateStore contract (store.ts) on
// one SQLite file. better-sqlite3 is synchronous; the methods are async only to keep the contract
// one for every implementation. The only SQL of the state store is in this file.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { shorten } from '../../providers/dav/errors.js';
import type { RecordKind } from '../../providers/crm/model.js';
import { acquireLock } from '../lock.js';
import {
  patchedStatusFields,
  recordKey,
  STATUS_COLUMNS,
  type AttentionItem,
  type CollectionKind,
  type CrmCursors,
  type ForeignItem,
  type ItemState,
  type LookupResult,
  type MailboxHead,
  type MailboxLease,
  type MailboxRecords,
  type MailboxState,
  type MailboxStatus,
  type RecordRef,
  type StateChange,
  type StateStore,
  type StatusPatch,
} from './store.js';

/** Longest error message kept in the state store (status and failure records). */
const MAX_STORED_MESSAGE = 1000;
/** Tables that hold one mailbox's sync state (all but its status row). */
const MAILBOX_TABLES = ['collection', 'item', 'foreign_item', 'exclusion', 'failed_record', 'failed_item', 'pending_import', 'pending_create', 'attention'];
/** SQLite's limit of bound parameters is 32766; lists are read in chunks far below it. */
const CHUNK = 500;

/** The schema, one entry per version (exported for the migration test, which builds old versions). */
export const MIGRATIONS: readonly string[] = [
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
  // v3 (issue #15, D58): one table per meaning instead of `retry` with JSON in its message column.
  // side 'crm' keyed `kind:id` → failed_record; side 'crm' keyed by href (a device item whose CRM
  // record could not be read) and side 'device' → failed_item; 'import', 'create', 'attention'.
  `CREATE TABLE failed_record (
     user TEXT NOT NULL, kind TEXT NOT NULL, crm_id TEXT NOT NULL, message TEXT NOT NULL,
     PRIMARY KEY (user, kind, crm_id));
   CREATE TABLE failed_item (
     user TEXT NOT NULL, href TEXT NOT NULL, message TEXT NOT NULL,
     PRIMARY KEY (user, href));
   CREATE TABLE pending_import (
     user TEXT NOT NULL, href TEXT NOT NULL,
     PRIMARY KEY (user, href));
   CREATE TABLE pending_create (
     user TEXT NOT NULL, kind TEXT NOT NULL, crm_id TEXT NOT NULL, field_hashes TEXT NOT NULL,
     PRIMARY KEY (user, kind, crm_id));
   CREATE TABLE attention (
     user TEXT NOT NULL, href TEXT NOT NULL, etag TEXT NOT NULL, collection TEXT NOT NULL, message TEXT NOT NULL,
     PRIMARY KEY (user, href));
   INSERT OR REPLACE INTO failed_record (user, kind, crm_id, message)
     SELECT user, substr(key, 1, instr(key, ':') - 1), substr(key, instr(key, ':') + 1), message FROM retry
     WHERE side = 'crm' AND (key LIKE 'address:%' OR key LIKE 'activity:%');
   INSERT OR REPLACE INTO failed_item (user, href, message)
     SELECT user, key, message FROM retry
     WHERE side = 'device' OR (side = 'crm' AND NOT (key LIKE 'address:%' OR key LIKE 'activity:%'));
   INSERT OR REPLACE INTO pending_import (user, href) SELECT user, key FROM retry WHERE side = 'import';
   INSERT OR REPLACE INTO pending_create (user, kind, crm_id, field_hashes)
     SELECT user, substr(key, 1, instr(key, ':') - 1), substr(key, instr(key, ':') + 1),
       CASE WHEN json_valid(message) AND json_type(message) = 'object' THEN message ELSE '{}' END
     FROM retry WHERE side = 'create' AND instr(key, ':') > 1;
   INSERT OR REPLACE INTO attention (user, href, etag, collection, message)
     SELECT user, key,
       CASE WHEN json_valid(message) THEN coalesce(json_extract(message, '$.etag'), '') ELSE '' END,
       CASE WHEN json_valid(message) THEN coalesce(json_extract(message, '$.collection'), '') ELSE '' END,
       CASE WHEN json_valid(message) THEN coalesce(json_extract(message, '$.message'), '') ELSE message END
     FROM retry WHERE side = 'attention';
   DROP TABLE retry;`,
  // v4 (issue #16): which mailboxes hold a changed record (`holders`, the daemon's routing of a CRM
  // change) is an index lookup per record, not a scan of every mailbox's items: without it a bulk
  // change of 230,000 records over 10,000 mailboxes kept the daemon in one query for hours.
  `CREATE INDEX IF NOT EXISTS item_record ON item (kind, crm_id);`,
];

/** Which mailboxes hold one of the records (a JSON list of [kind, crm_id]): one index lookup per record (v4). */
export const HOLDERS_SQL = `SELECT DISTINCT item.user FROM json_each(?) j CROSS JOIN item WHERE item.kind = j.value ->> 0 AND item.crm_id = j.value ->> 1`;

/** The number of migrations: a database at this user_version is current. */
export const STATE_SCHEMA_VERSION = MIGRATIONS.length;

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

interface MailboxRow {
  user: string;
  state: string;
  last_success: string | null;
  last_error: string | null;
  next_run: string | null;
  pending: number;
  started_at: string | null;
  finished_at: string | null;
  cursors: string | null;
  identity: string | null;
  server_quirks: string | null;
  last_full: string | null;
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

function rowToStatus(user: string, r: MailboxRow | undefined): MailboxStatus {
  return {
    user,
    state: (r?.state as MailboxState) ?? 'not-started',
    lastSuccess: r?.last_success ?? null,
    lastError: r?.last_error ?? null,
    nextRun: r?.next_run ?? null,
    pending: r?.pending ?? 0,
    startedAt: r?.started_at ?? null,
    finishedAt: r?.finished_at ?? null,
  };
}

const NO_CURSORS: CrmCursors = { addresses: null, activities: null, tombstones: null };

export interface SqliteStateStoreOptions {
  /** Where the per-mailbox lock files live (R24); default: `locks` next to the database. */
  lockDir?: string;
  /** The field-hash key file; default: `state.key` next to the database (existing installations keep it). */
  keyFile?: string;
}

/** Opens (creating and migrating when needed) the state store in `file`. */
export async function openSqliteStateStore(file: string, opts: SqliteStateStoreOptions = {}): Promise<StateStore> {
  return new SqliteStateStore(file, opts);
}

class SqliteStateStore implements StateStore {
  readonly describe: string;
  private readonly db: Database.Database;
  private readonly lockDir: string;
  private readonly keyFile: string;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly tx: (fn: () => void) => void;
  private hashKey: string | undefined;

  constructor(file: string, opts: SqliteStateStoreOptions) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    if (!fs.existsSync(file)) fs.closeSync(fs.openSync(file, 'a', 0o600));
    fs.chmodSync(file, 0o600);
    this.describe = `sqlite ${file}`;
    this.lockDir = opts.lockDir ?? path.join(path.dirname(file), 'locks');
    this.keyFile = opts.keyFile ?? path.join(path.dirname(file), 'state.key');
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    // 2 MB page cache instead of 16 MB (D79): the state is read in batches, the cache buys nothing more.
    this.db.pragma('cache_size = -2000');
    this.migrate();
    // One transaction wrapper for the store's life: each db.transaction() prepares BEGIN/COMMIT anew.
    this.tx = this.db.transaction((fn: () => void) => fn());
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

  /** Statements are prepared once per store: preparing is a measurable share of a large sync. */
  private sql(text: string): Database.Statement {
    let st = this.statements.get(text);
    if (!st) {
      st = this.db.prepare(text);
      this.statements.set(text, st);
    }
    return st;
  }

  private mailboxRow(user: string): MailboxRow | undefined {
    return this.sql('SELECT * FROM mailbox WHERE user = ?').get(user) as MailboxRow | undefined;
  }

  private ensureMailbox(user: string): void {
    this.sql('INSERT OR IGNORE INTO mailbox (user) VALUES (?)').run(user);
  }

  async loadMailbox(user: string): Promise<MailboxHead> {
    const r = this.mailboxRow(user);
    const collections: MailboxHead['collections'] = {};
    for (const c of this.sql('SELECT kind, url, sync_token FROM collection WHERE user = ?').all(user) as { kind: CollectionKind; url: string; sync_token: string | null }[]) {
      collections[c.kind] = { url: c.url, token: c.sync_token };
    }
    const failedRecords: MailboxHead['failedRecords'] = new Map();
    for (const f of this.sql('SELECT kind, crm_id, message FROM failed_record WHERE user = ?').all(user) as { kind: RecordKind; crm_id: string; message: string }[]) {
      const ref = { kind: f.kind, crmId: f.crm_id };
      failedRecords.set(recordKey(ref), { ref, message: f.message });
    }
    const failedItems = new Map((this.sql('SELECT href, message FROM failed_item WHERE user = ?').all(user) as { href: string; message: string }[]).map((f) => [f.href, f.message]));
    const pendingImports = new Set(this.sql('SELECT href FROM pending_import WHERE user = ?').pluck().all(user) as string[]);
    const pendingCreates: MailboxHead['pendingCreates'] = new Map();
    for (const p of this.sql('SELECT kind, crm_id, field_hashes FROM pending_create WHERE user = ?').all(user) as { kind: RecordKind; crm_id: string; field_hashes: string }[]) {
      const ref = { kind: p.kind, crmId: p.crm_id };
      pendingCreates.set(recordKey(ref), { ref, fieldHashes: JSON.parse(p.field_hashes) as Record<string, string> });
    }
    const deviceOnlyPrivate = this.sql("SELECT count(*) FROM foreign_item WHERE user = ? AND reason LIKE 'private%'").pluck().get(user) as number;
    return {
      status: rowToStatus(user, r),
      identity: r?.identity ?? null,
      cursors: r?.cursors ? (JSON.parse(r.cursors) as CrmCursors) : { ...NO_CURSORS },
      serverQuirks: r?.server_quirks ? (JSON.parse(r.server_quirks) as Record<string, boolean>) : null,
      lastFull: r?.last_full ?? null,
      collections,
      failedRecords,
      failedItems,
      pendingImports,
      pendingCreates,
      deviceOnlyPrivate,
    };
  }

  async loadRecords(user: string): Promise<MailboxRecords> {
    const items = (this.sql('SELECT * FROM item WHERE user = ?').all(user) as ItemRow[]).map(rowToItem);
    const deviceOnly = this.sql('SELECT user, collection, href, etag, reason FROM foreign_item WHERE user = ?').all(user) as ForeignItem[];
    const exclusions: MailboxRecords['exclusions'] = new Map();
    for (const e of this.sql('SELECT kind, crm_id, since FROM exclusion WHERE user = ?').all(user) as { kind: RecordKind; crm_id: string; since: string }[]) {
      const ref = { kind: e.kind, crmId: e.crm_id };
      exclusions.set(recordKey(ref), { ...ref, since: e.since });
    }
    const attention = new Map((this.sql('SELECT href, etag, collection, message FROM attention WHERE user = ?').all(user) as AttentionItem[]).map((a) => [a.href, a]));
    return { items, deviceOnly, exclusions, attention };
  }

  async heldIds(user: string): Promise<{ address: string[]; activity: string[] }> {
    const out = { address: [] as string[], activity: [] as string[] };
    for (const r of this.sql('SELECT kind, crm_id FROM item WHERE user = ?').raw().all(user) as [RecordKind, string][]) out[r[0]].push(r[1]);
    return out;
  }

  async lookup(user: string, keys: { records?: RecordRef[]; hrefs?: string[] }): Promise<LookupResult> {
    const items = new Map<string, ItemState>();
    const deviceOnly: ForeignItem[] = [];
    const excluded = new Set<string>();
    const chunks = <T>(list: T[]) => Array.from({ length: Math.ceil(list.length / CHUNK) }, (_, i) => list.slice(i * CHUNK, (i + 1) * CHUNK));
    // One statement per list (json_each takes the whole chunk as one parameter): no query per record.
    // CROSS JOIN keeps json_each the outer loop, so each key is one index lookup (not a scan per key).
    for (const part of chunks(keys.records ?? [])) {
      const rows = this.sql(
        `SELECT item.* FROM json_each(?) j CROSS JOIN item WHERE item.user = ? AND item.kind = j.value ->> 0 AND item.crm_id = j.value ->> 1`,
      ).all(JSON.stringify(part.map((r) => [r.kind, r.crmId])), user) as ItemRow[];
      for (const r of rows) items.set(`${r.kind}:${r.crm_id}`, rowToItem(r));
      const ex = this.sql(
        `SELECT e.kind, e.crm_id FROM json_each(?) j CROSS JOIN exclusion e WHERE e.user = ? AND e.kind = j.value ->> 0 AND e.crm_id = j.value ->> 1`,
      ).all(JSON.stringify(part.map((r) => [r.kind, r.crmId])), user) as { kind: string; crm_id: string }[];
      for (const e of ex) excluded.add(`${e.kind}:${e.crm_id}`);
    }
    for (const part of chunks(keys.hrefs ?? [])) {
      const json = JSON.stringify(part);
      for (const r of this.sql('SELECT item.* FROM json_each(?) j CROSS JOIN item WHERE item.user = ? AND item.href = j.value').all(json, user) as ItemRow[]) {
        items.set(`${r.kind}:${r.crm_id}`, rowToItem(r));
      }
      deviceOnly.push(
        ...(this.sql('SELECT f.user, f.collection, f.href, f.etag, f.reason FROM json_each(?) j CROSS JOIN foreign_item f WHERE f.user = ? AND f.href = j.value').all(json, user) as ForeignItem[]),
      );
    }
    return { items: [...items.values()], deviceOnly, excluded };
  }

  async apply(user: string, changes: StateChange[], status?: StatusPatch): Promise<void> {
    if (!changes.length) {
      if (status) this.writeStatus(user, status);
      return;
    }
    this.tx(() => {
      // Every mailbox with state has a status row, so listStatuses / staleUsers / a state move see it.
      this.sql('INSERT OR IGNORE INTO mailbox (user) VALUES (?)').run(user);
      for (const c of changes) this.applyOne(user, c);
      if (status) this.writeStatus(user, status);
    });
  }

  private applyOne(user: string, c: StateChange): void {
    switch (c.op) {
      case 'item-put': {
        const i = c.item;
        this.sql(
          `INSERT INTO item (user, kind, crm_id, collection, href, etag, crm_version, content_hash, field_hashes, reason, links)
           VALUES (@user, @kind, @crmId, @collection, @href, @etag, @crmVersion, @contentHash, @fieldHashes, @reason, @links)
           ON CONFLICT(user, kind, crm_id) DO UPDATE SET collection=@collection, href=@href, etag=@etag,
             crm_version=@crmVersion, content_hash=@contentHash, field_hashes=@fieldHashes, reason=@reason, links=@links`,
        ).run({ ...i, user, fieldHashes: JSON.stringify(i.fieldHashes), links: JSON.stringify(i.links) });
        return;
      }
      case 'item-delete':
        this.sql('DELETE FROM item WHERE user = ? AND kind = ? AND crm_id = ?').run(user, c.ref.kind, c.ref.crmId);
        return;
      case 'device-only-put':
        this.sql(
          `INSERT INTO foreign_item (user, collection, href, etag, reason) VALUES (@user, @collection, @href, @etag, @reason)
           ON CONFLICT(user, href) DO UPDATE SET etag=@etag, reason=@reason, collection=@collection`,
        ).run({ ...c.item, user });
        return;
      case 'device-only-delete':
        this.sql('DELETE FROM foreign_item WHERE user = ? AND href = ?').run(user, c.href);
        return;
      case 'exclusion-put':
        this.sql('INSERT OR REPLACE INTO exclusion (user, kind, crm_id, since) VALUES (?, ?, ?, ?)').run(user, c.ref.kind, c.ref.crmId, c.since);
        return;
      case 'exclusion-delete':
        this.sql('DELETE FROM exclusion WHERE user = ? AND kind = ? AND crm_id = ?').run(user, c.ref.kind, c.ref.crmId);
        return;
      case 'record-failed':
        this.sql('INSERT OR REPLACE INTO failed_record (user, kind, crm_id, message) VALUES (?, ?, ?, ?)').run(user, c.ref.kind, c.ref.crmId, shorten(c.message, MAX_STORED_MESSAGE));
        return;
      case 'record-settled':
        this.sql('DELETE FROM failed_record WHERE user = ? AND kind = ? AND crm_id = ?').run(user, c.ref.kind, c.ref.crmId);
        return;
      case 'item-failed':
        this.sql('INSERT OR REPLACE INTO failed_item (user, href, message) VALUES (?, ?, ?)').run(user, c.href, shorten(c.message, MAX_STORED_MESSAGE));
        return;
      case 'item-settled':
        this.sql('DELETE FROM failed_item WHERE user = ? AND href = ?').run(user, c.href);
        return;
      case 'import-pending':
        this.sql('INSERT OR IGNORE INTO pending_import (user, href) VALUES (?, ?)').run(user, c.href);
        return;
      case 'import-settled':
        this.sql('DELETE FROM pending_import WHERE user = ? AND href = ?').run(user, c.href);
        return;
      case 'create-pending':
        this.sql('INSERT OR REPLACE INTO pending_create (user, kind, crm_id, field_hashes) VALUES (?, ?, ?, ?)').run(user, c.ref.kind, c.ref.crmId, JSON.stringify(c.fieldHashes));
        return;
      case 'create-settled':
        this.sql('DELETE FROM pending_create WHERE user = ? AND kind = ? AND crm_id = ?').run(user, c.ref.kind, c.ref.crmId);
        return;
      case 'creates-settled':
        this.sql('DELETE FROM pending_create WHERE user = ?').run(user);
        return;
      case 'attention-put':
        this.sql('INSERT OR REPLACE INTO attention (user, href, etag, collection, message) VALUES (?, ?, ?, ?, ?)').run(
          user,
          c.item.href,
          c.item.etag,
          c.item.collection,
          shorten(c.item.message, MAX_STORED_MESSAGE),
        );
        return;
      case 'attention-delete':
        this.sql('DELETE FROM attention WHERE user = ? AND href = ?').run(user, c.href);
        return;
      case 'collection-put':
        this.sql(
          `INSERT INTO collection (user, kind, url, sync_token) VALUES (?, ?, ?, ?)
           ON CONFLICT(user, kind) DO UPDATE SET url = excluded.url, sync_token = excluded.sync_token`,
        ).run(user, c.kind, c.url, c.token);
        return;
      case 'cursors-put':
        this.ensureMailbox(user);
        this.sql('UPDATE mailbox SET cursors = ? WHERE user = ?').run(JSON.stringify(c.cursors), user);
        return;
      case 'quirks-put':
        this.ensureMailbox(user);
        this.sql('UPDATE mailbox SET server_quirks = ? WHERE user = ?').run(JSON.stringify(c.quirks), user);
        return;
      case 'last-full-put':
        this.ensureMailbox(user);
        this.sql('UPDATE mailbox SET last_full = ? WHERE user = ?').run(c.at, user);
        return;
      case 'identity-put':
        this.ensureMailbox(user);
        this.sql('UPDATE mailbox SET identity = ? WHERE user = ?').run(c.identity, user);
        return;
      case 'reset':
        for (const t of MAILBOX_TABLES) this.sql(`DELETE FROM ${t} WHERE user = ?`).run(user);
        this.sql('UPDATE mailbox SET cursors = NULL, server_quirks = NULL, last_full = NULL WHERE user = ?').run(user);
        return;
      default: {
        const never: never = c;
        throw new Error(`unknown state change ${JSON.stringify(never)}`);
      }
    }
  }

  async getStatus(user: string): Promise<MailboxStatus> {
    return rowToStatus(user, this.mailboxRow(user));
  }

  async setStatus(user: string, patch: StatusPatch): Promise<void> {
    this.writeStatus(user, patch);
  }

  async setStatuses(patches: ReadonlyMap<string, StatusPatch>): Promise<void> {
    if (patches.size) this.tx(() => patches.forEach((patch, user) => this.writeStatus(user, patch)));
  }

  private writeStatus(user: string, patch: StatusPatch): void {
    // Only the patched columns, without reading the row first (one statement per status write).
    const keys = patchedStatusFields(patch);
    const values: Record<string, unknown> = { user };
    for (const k of keys) values[k] = patch[k];
    // A hostile server's answer must not become a 100 kB status line.
    if (typeof values.lastError === 'string' && values.lastError.length > MAX_STORED_MESSAGE) values.lastError = shorten(values.lastError, MAX_STORED_MESSAGE);
    const cols = keys.map((k) => STATUS_COLUMNS[k]);
    this.sql(
      `INSERT INTO mailbox (user${cols.map((c) => `, ${c}`).join('')}) VALUES (@user${keys.map((k) => `, @${k}`).join('')})
       ON CONFLICT(user) DO ${cols.length ? `UPDATE SET ${cols.map((c) => `${c} = excluded.${c}`).join(', ')}` : 'NOTHING'}`,
    ).run(values);
  }

  async listStatuses(): Promise<MailboxStatus[]> {
    return (this.sql('SELECT * FROM mailbox ORDER BY user').all() as MailboxRow[]).map((r) => rowToStatus(r.user, r));
  }

  async pendingCounts(): Promise<Map<string, number>> {
    const rows = this.sql(
      `SELECT user, count(*) AS n FROM (
         SELECT user FROM failed_record UNION ALL SELECT user FROM failed_item UNION ALL SELECT user FROM pending_import)
       GROUP BY user`,
    ).all() as { user: string; n: number }[];
    return new Map(rows.map((r) => [r.user, r.n]));
  }

  async listAttention(user: string): Promise<AttentionItem[]> {
    return this.sql('SELECT href, etag, collection, message FROM attention WHERE user = ? ORDER BY href').all(user) as AttentionItem[];
  }

  async holders(refs: RecordRef[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < refs.length; i += CHUNK) {
      const json = JSON.stringify(refs.slice(i, i + CHUNK).map((r) => [r.kind, r.crmId]));
      const users = this.sql(HOLDERS_SQL)
        .pluck()
        .all(json) as string[];
      for (const u of users) out.add(u);
    }
    return out;
  }

  async staleUsers(assigned: Set<string>, olderThan: string): Promise<string[]> {
    const rows = this.sql('SELECT user, last_success, finished_at FROM mailbox').all() as { user: string; last_success: string | null; finished_at: string | null }[];
    return rows
      .filter((r) => {
        const last = r.last_success ?? r.finished_at ?? '';
        return !assigned.has(r.user) || (last !== '' && last < olderThan);
      })
      .map((r) => r.user);
  }

  async forget(user: string): Promise<void> {
    this.tx(() => {
      for (const t of MAILBOX_TABLES) this.sql(`DELETE FROM ${t} WHERE user = ?`).run(user);
      this.sql('DELETE FROM mailbox WHERE user = ?').run(user);
    });
  }

  async lease(user: string, status?: StatusPatch): Promise<MailboxLease> {
    const lock = acquireLock(this.lockDir, `mailbox-${user}`);
    try {
      if (status) this.writeStatus(user, status);
    } catch (err) {
      lock.release();
      throw err;
    }
    return { release: async () => lock.release() };
  }

  async fieldHashKey(adopt?: string): Promise<string> {
    // Read once per store: it never changes after it was made (D94).
    this.hashKey ??= this.readOrMakeKey(adopt);
    return this.hashKey;
  }

  private readOrMakeKey(adopt?: string): string {
    // Random, 0600, next to (not inside) the database: a copy of the state store alone reveals no
    // field values, not even short ones like phone numbers.
    const file = this.keyFile;
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      const key = adopt ?? crypto.randomBytes(32).toString('hex');
      try {
        fs.writeFileSync(file, key + '\n', { mode: 0o600, flag: 'wx' });
        return key;
      } catch {
        return fs.readFileSync(file, 'utf8').trim(); // another process made it first
      }
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
