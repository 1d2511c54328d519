// The StateStore on PostgreSQL (issue #16): one schema (default `sync_cli`) shared by every host
// of a cluster, one table per meaning, versioned migrations run under an advisory lock so two
// hosts starting at once do not both migrate. Leases (R24 across hosts) are session advisory
// locks on one dedicated connection per store (D67): PostgreSQL drops them the moment that
// session ends, so a killed holder's lease is free within seconds and a live holder's lease is
// never taken. Values are the interface's strings (ISO times as text), so a state moved from
// SQLite reads back byte for byte.
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { guardPool } from '../../providers/pg-guard.js';
import { SyncCliError } from '../../errors.js';
import { describeCrmUrl } from '../../providers/crm/connect.js';
import { shorten } from '../../providers/dav/errors.js';
import { LeaseLostError, MailboxLockedError } from '../lock.js';
import type {
  AttentionItem, CollectionKind, CrmCursors, ForeignItem, ItemState, MailboxHead, MailboxLease, MailboxRecords,
  MailboxStatus, RecordRef, StateChange, StateStore, StatusPatch,
} from './store.js';
import { patchedStatusFields, recordKey, STATUS_COLUMNS, type LookupResult } from './store.js';
import type { ClusterTables } from './shared.js';

export const DEFAULT_STATE_SCHEMA = 'sync_cli';
const MAX_STORED_MESSAGE = 1000;
const FIELD_HASH_KEY = 'field-hash-key';

/** Each entry one schema version; never edit a released one, append. */
const MIGRATIONS: string[] = [
  // v1
  `CREATE TABLE mailbox (
     user_id text PRIMARY KEY, state text NOT NULL DEFAULT 'not-started', last_success text, last_error text,
     next_run text, pending integer NOT NULL DEFAULT 0, started_at text, finished_at text,
     identity text, cursors jsonb, server_quirks jsonb, last_full text);
   CREATE TABLE collection (
     user_id text NOT NULL, kind text NOT NULL, url text NOT NULL, sync_token text, PRIMARY KEY (user_id, kind));
   CREATE TABLE item (
     user_id text NOT NULL, kind text NOT NULL, crm_id text NOT NULL, collection text NOT NULL, href text NOT NULL,
     etag text NOT NULL, crm_version text NOT NULL, content_hash text NOT NULL, field_hashes jsonb NOT NULL,
     reason text NOT NULL, links jsonb NOT NULL, PRIMARY KEY (user_id, kind, crm_id));
   CREATE UNIQUE INDEX item_href ON item (user_id, href);
   CREATE INDEX item_record ON item (kind, crm_id);
   CREATE TABLE device_only_item (
     user_id text NOT NULL, href text NOT NULL, collection text NOT NULL, etag text NOT NULL, reason text NOT NULL,
     PRIMARY KEY (user_id, href));
   CREATE TABLE exclusion (
     user_id text NOT NULL, kind text NOT NULL, crm_id text NOT NULL, since text NOT NULL, PRIMARY KEY (user_id, kind, crm_id));
   CREATE TABLE failed_record (
     user_id text NOT NULL, kind text NOT NULL, crm_id text NOT NULL, message text NOT NULL, PRIMARY KEY (user_id, kind, crm_id));
   CREATE TABLE failed_item (user_id text NOT NULL, href text NOT NULL, message text NOT NULL, PRIMARY KEY (user_id, href));
   CREATE TABLE pending_import (user_id text NOT NULL, href text NOT NULL, PRIMARY KEY (user_id, href));
   CREATE TABLE pending_create (
     user_id text NOT NULL, kind text NOT NULL, crm_id text NOT NULL, field_hashes jsonb NOT NULL, PRIMARY KEY (user_id, kind, crm_id));
   CREATE TABLE attention (
     user_id text NOT NULL, href text NOT NULL, etag text NOT NULL, collection text NOT NULL, message text NOT NULL,
     PRIMARY KEY (user_id, href));
   CREATE TABLE setting (key text PRIMARY KEY, value text NOT NULL);`,
  // v2 (D87, D88): what the hosts share besides the state — assignments and sealed mailbox passwords.
  `CREATE TABLE assignment (user_id text PRIMARY KEY, mailbox jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
   CREATE TABLE sealed_secret (ref text PRIMARY KEY, sealed text NOT NULL, key_id text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
   INSERT INTO setting (key, value) VALUES ('assignment-revision', '0');`,
];

/** Tables that hold one mailbox's rows (all but `mailbox` itself and `setting`). */
const MAILBOX_TABLES = ['collection', 'item', 'device_only_item', 'exclusion', 'failed_record', 'failed_item', 'pending_import', 'pending_create', 'attention'] as const;

export interface PostgresStateOptions {
  /** postgres://user[:password]@host[:port]/db — the password is never shown. */
  url: string;
  /** Schema of the state tables (created when missing). Default `sync_cli`. */
  schema?: string;
  /** Pool size for reads and writes (leases use one more connection). Default 4. */
  poolSize?: number;
  /** Let the process exit while the pool is idle (a store opened on the side, e.g. for sealed passwords). */
  exitOnIdle?: boolean;
}

/** The state database cannot be reached or refused a statement. */
export class StateStoreUnavailableError extends SyncCliError {
  constructor(message: string, remedy: string, cause?: unknown) {
    super(message, { exitCode: 2, remedy, cause });
  }
}

/** A lease held by another sync-cli process, maybe on another host. */
export class MailboxLeasedError extends MailboxLockedError {
  constructor(user: string, holder: { host: string; pid: number } | null) {
    super(user, holder?.pid ?? 0);
    this.message = holder
      ? `mailbox ${user} is being synced by another sync-cli process (pid ${holder.pid} on ${holder.host})`
      : `mailbox ${user} is being synced by another sync-cli process`;
  }
}

export { LeaseLostError };

/** 64-bit advisory lock key of a name within a schema (two schemas never share a lock). */
export function advisoryKey(schema: string, name: string): string {
  return BigInt.asIntN(64, createHash('sha256').update(`${schema}\0${name}`).digest().readBigUInt64BE(0)).toString();
}

const APP_NAME_PREFIX = 'sync-cli';
function applicationName(): string {
  // Who holds a lease, for the "being synced by" message (hostname is not a secret; trimmed to PG's 63 bytes).
  return `${APP_NAME_PREFIX} ${process.pid} ${os.hostname()}`.slice(0, 63);
}
function parseApplicationName(name: string | null): { host: string; pid: number } | null {
  const m = /^sync-cli (\d+) (.+)$/.exec(name ?? '');
  return m ? { pid: Number(m[1]), host: m[2]! } : null;
}

function validSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new StateStoreUnavailableError(`The state schema name "${schema}" is not a plain lower-case identifier`, 'Use letters a-z, digits and _ (state.schema in config.json), e.g. sync_cli.');
  }
  return schema;
}

const status0 = (user: string): MailboxStatus => ({ user, state: 'not-started', lastSuccess: null, lastError: null, nextRun: null, pending: 0, startedAt: null, finishedAt: null });

interface MailboxRow {
  user_id: string;
  state: MailboxStatus['state'];
  last_success: string | null;
  last_error: string | null;
  next_run: string | null;
  pending: number;
  started_at: string | null;
  finished_at: string | null;
  identity: string | null;
  cursors: CrmCursors | null;
  server_quirks: Record<string, boolean> | null;
  last_full: string | null;
}

function rowToStatus(r: MailboxRow | null | undefined, user: string): MailboxStatus {
  if (!r) return status0(user);
  return {
    user,
    state: r.state,
    lastSuccess: r.last_success,
    lastError: r.last_error,
    nextRun: r.next_run,
    pending: Number(r.pending),
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

interface ItemRow {
  user_id: string;
  kind: string;
  crm_id: string;
  collection: string;
  href: string;
  etag: string;
  crm_version: string;
  content_hash: string;
  field_hashes: Record<string, string>;
  reason: string;
  links: string[];
}

const rowToItem = (r: ItemRow): ItemState => ({
  user: r.user_id,
  kind: r.kind as ItemState['kind'],
  crmId: r.crm_id,
  collection: r.collection as CollectionKind,
  href: r.href,
  etag: r.etag,
  crmVersion: r.crm_version,
  contentHash: r.content_hash,
  fieldHashes: r.field_hashes,
  reason: r.reason as ItemState['reason'],
  links: r.links,
});

interface ForeignRow {
  user_id: string;
  collection: string;
  href: string;
  etag: string;
  reason: string;
}
const rowToForeign = (r: ForeignRow): ForeignItem => ({ user: r.user_id, collection: r.collection as CollectionKind, href: r.href, etag: r.etag, reason: r.reason });

const ref = (kind: string, crmId: string): RecordRef => ({ kind: kind as RecordRef['kind'], crmId });

/** A statement with its `$n` values written in as literals (pg's escaping), for a multi-statement message. */
function inline(text: string, values: unknown[]): string {
  return text.replace(/\$(\d+)/g, (_m, n: string) => {
    const v = values[Number(n) - 1];
    if (v === null || v === undefined) return 'NULL';
    if (typeof v === 'number') return String(v);
    return pg.escapeLiteral(String(v));
  });
}


/**
 * A status change as one statement with its values inlined: `INSERT … VALUES …` and, with
 * `conflict`, the upsert clause; without it `INSERT … SELECT …` for the caller to finish
 * (`FROM … WHERE …` and statusConflict(patch)).
 */
function statusStatement(table: string, user: string, patch: StatusPatch, conflict: boolean): string {
  const keys = patchedStatusFields(patch);
  // A hostile server's answer must not become a 100 kB status line.
  const value = (k: keyof StatusPatch) => (k === 'lastError' && typeof patch.lastError === 'string' ? shorten(patch.lastError, MAX_STORED_MESSAGE) : patch[k]);
  const values = inline(['$1', ...keys.map((_k, i) => `$${i + 2}`)].join(', '), [user, ...keys.map(value)]);
  const head = `INSERT INTO ${table} (user_id${keys.map((k) => `, ${STATUS_COLUMNS[k]}`).join('')}) `;
  return conflict ? `${head}VALUES (${values}) ${statusConflict(patch)}` : `${head}SELECT ${values}`;
}

function statusConflict(patch: StatusPatch): string {
  const keys = patchedStatusFields(patch);
  return `ON CONFLICT (user_id) DO ${keys.length ? `UPDATE SET ${keys.map((k) => `${STATUS_COLUMNS[k]} = excluded.${STATUS_COLUMNS[k]}`).join(', ')}` : 'NOTHING'}`;
}

/** Two parallel arrays for `(kind, crm_id) IN (SELECT * FROM unnest($a, $b))`. */
function refArrays(refs: RecordRef[]): [string[], string[]] {
  return [refs.map((r) => r.kind), refs.map((r) => r.crmId)];
}

interface Held {
  lost: AbortController;
}

export class PostgresStateStore implements StateStore, ClusterTables {
  readonly describe: string;
  private leaseClient: pg.Client | null = null;
  private leaseConnecting: Promise<pg.Client> | null = null;
  private readonly held = new Map<string, Held>();
  /** Mailboxes whose lease died with its session: no state write for them until leased again. */
  private readonly lost = new Set<string>();
  private hashKey: string | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly opts: PostgresStateOptions & { schema: string },
  ) {
    this.describe = `postgres ${describeCrmUrl('postgres', opts.url)} schema ${opts.schema}`;
  }

  /** Connects, creates the schema when missing and runs the migrations this version lacks. */
  static async open(options: PostgresStateOptions): Promise<PostgresStateStore> {
    const schema = validSchema(options.schema ?? DEFAULT_STATE_SCHEMA);
    const opts = { ...options, schema };
    const pool = guardPool(new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 4,
      allowExitOnIdle: options.exitOnIdle ?? false,
      options: `-c search_path=${schema}`,
      application_name: applicationName(),
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    }));
    const store = new PostgresStateStore(pool, opts);
    try {
      await store.migrate();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw store.unavailable('open', err);
    }
    return store;
  }

  /** The schema version this build writes (tests, doctor). */
  static readonly schemaVersion = MIGRATIONS.length;

  private unavailable(action: string, err: unknown): SyncCliError {
    if (err instanceof SyncCliError) return err;
    const e = err as { code?: string; message?: string };
    const reasons: Record<string, string> = {
      ECONNREFUSED: 'connection refused (is PostgreSQL running and listening there?)',
      ENOTFOUND: 'host not found',
      ETIMEDOUT: 'connection timed out',
      '28P01': 'password authentication failed',
      '28000': 'authentication rejected by pg_hba.conf',
      '3D000': 'the database does not exist',
      '42501': 'permission denied',
    };
    const reason = (e.code && reasons[e.code]) || (e.message ?? String(err)).split('\n')[0]!;
    return new StateStoreUnavailableError(
      `The state database ${this.describe} could not ${action}: ${reason}`,
      e.code === '42501'
        ? `Grant the database user CREATE on the database (for schema ${this.opts.schema}) or create the schema for it.`
        : 'Check state.url in config.json and that PostgreSQL is reachable from this host.',
      err,
    );
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Two hosts starting at once: the second waits here, then finds nothing left to do.
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [advisoryKey(this.opts.schema, 'migrate')]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.opts.schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.opts.schema}.schema_migration (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      const { rows } = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${this.opts.schema}.schema_migration`);
      const current = rows[0]?.v ?? 0;
      if (current > MIGRATIONS.length) {
        throw new StateStoreUnavailableError(
          `The state schema ${this.opts.schema} in ${this.describe} is at version ${current}, newer than this sync-cli knows (${MIGRATIONS.length})`,
          'Upgrade sync-cli on this host to the version the other hosts run.',
        );
      }
      for (let v = current + 1; v <= MIGRATIONS.length; v++) {
        await client.query(`SET LOCAL search_path TO ${this.opts.schema}`);
        await client.query(MIGRATIONS[v - 1]!);
        await client.query(`INSERT INTO ${this.opts.schema}.schema_migration (version) VALUES ($1)`, [v]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async q<R extends pg.QueryResultRow>(text: string, values: unknown[] = [], action = 'answer'): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (err) {
      throw this.unavailable(action, err);
    }
  }

  async loadMailbox(user: string): Promise<MailboxHead> {
    // One round trip: every part of the head as one JSON column.
    const [row] = await this.q<{
      m: MailboxRow | null;
      c: { kind: CollectionKind; url: string; sync_token: string | null }[];
      fr: { kind: string; crm_id: string; message: string }[];
      fi: { href: string; message: string }[];
      pi: string[];
      pc: { kind: string; crm_id: string; field_hashes: Record<string, string> }[];
      dp: number;
    }>(
      `SELECT (SELECT row_to_json(m) FROM mailbox m WHERE user_id = $1) AS m,
         (SELECT coalesce(json_agg(c), '[]') FROM collection c WHERE user_id = $1) AS c,
         (SELECT coalesce(json_agg(f), '[]') FROM failed_record f WHERE user_id = $1) AS fr,
         (SELECT coalesce(json_agg(f), '[]') FROM failed_item f WHERE user_id = $1) AS fi,
         (SELECT coalesce(json_agg(href), '[]') FROM pending_import WHERE user_id = $1) AS pi,
         (SELECT coalesce(json_agg(p), '[]') FROM pending_create p WHERE user_id = $1) AS pc,
         (SELECT count(*)::int FROM device_only_item WHERE user_id = $1 AND reason LIKE 'private%') AS dp`,
      [user],
    );
    const m = row!.m;
    const collections: MailboxHead['collections'] = {};
    for (const c of row!.c) collections[c.kind] = { url: c.url, token: c.sync_token };
    return {
      status: rowToStatus(m, user),
      identity: m?.identity ?? null,
      cursors: m?.cursors ?? { addresses: null, activities: null, tombstones: null },
      serverQuirks: m?.server_quirks ?? null,
      lastFull: m?.last_full ?? null,
      collections,
      failedRecords: new Map(row!.fr.map((f) => [recordKey(ref(f.kind, f.crm_id)), { ref: ref(f.kind, f.crm_id), message: f.message }])),
      failedItems: new Map(row!.fi.map((f) => [f.href, f.message])),
      pendingImports: new Set(row!.pi),
      pendingCreates: new Map(row!.pc.map((p) => [recordKey(ref(p.kind, p.crm_id)), { ref: ref(p.kind, p.crm_id), fieldHashes: p.field_hashes }])),
      deviceOnlyPrivate: row!.dp,
    };
  }

  async loadRecords(user: string): Promise<MailboxRecords> {
    const [row] = await this.q<{
      i: ItemRow[];
      d: ForeignRow[];
      e: { kind: string; crm_id: string; since: string }[];
      a: AttentionItem[];
    }>(
      `SELECT (SELECT coalesce(json_agg(i), '[]') FROM item i WHERE user_id = $1) AS i,
         (SELECT coalesce(json_agg(d), '[]') FROM device_only_item d WHERE user_id = $1) AS d,
         (SELECT coalesce(json_agg(e), '[]') FROM exclusion e WHERE user_id = $1) AS e,
         (SELECT coalesce(json_agg(json_build_object('href', href, 'etag', etag, 'collection', collection, 'message', message)), '[]')
            FROM attention WHERE user_id = $1) AS a`,
      [user],
    );
    return {
      items: row!.i.map(rowToItem),
      deviceOnly: row!.d.map(rowToForeign),
      exclusions: new Map(row!.e.map((e) => [recordKey(ref(e.kind, e.crm_id)), { ...ref(e.kind, e.crm_id), since: e.since }])),
      attention: new Map(row!.a.map((a) => [a.href, a])),
    };
  }

  async lookup(user: string, keys: { records?: RecordRef[]; hrefs?: string[] }): Promise<LookupResult> {
    const [kinds, ids] = refArrays(keys.records ?? []);
    const hrefs = keys.hrefs ?? [];
    if (!kinds.length && !hrefs.length) return { items: [], deviceOnly: [], excluded: new Set() };
    const items = await this.q<ItemRow>(
      `SELECT * FROM item WHERE user_id = $1
         AND ((kind, crm_id) IN (SELECT * FROM unnest($2::text[], $3::text[])) OR href = ANY($4::text[]))`,
      [user, kinds, ids, hrefs],
    );
    const deviceOnly = hrefs.length ? await this.q<ForeignRow>('SELECT * FROM device_only_item WHERE user_id = $1 AND href = ANY($2::text[])', [user, hrefs]) : [];
    const excluded = kinds.length
      ? await this.q<{ kind: string; crm_id: string }>('SELECT kind, crm_id FROM exclusion WHERE user_id = $1 AND (kind, crm_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))', [user, kinds, ids])
      : [];
    return { items: items.map(rowToItem), deviceOnly: deviceOnly.map(rowToForeign), excluded: new Set(excluded.map((e) => recordKey(ref(e.kind, e.crm_id)))) };
  }

  async apply(user: string, changes: StateChange[], status?: StatusPatch): Promise<void> {
    if (!changes.length) {
      if (status) await this.setStatus(user, status);
      return;
    }
    // Fencing (R24): another process may hold the mailbox now; a sync that lost its lease must not write.
    if (this.lost.has(user)) throw new LeaseLostError(user, this.describe);
    // Every user with state has a mailbox row (staleUsers, listStatuses see it).
    const statements = [inline('INSERT INTO mailbox (user_id) VALUES ($1) ON CONFLICT DO NOTHING', [user])];
    for (const change of changes) this.statementsOf(user, change, statements);
    // The sync's final status in the same transaction: one round trip less (D94).
    if (status) statements.push(statusStatement('mailbox', user, status, true));
    // One simple-protocol message: PostgreSQL runs its statements as one implicit transaction
    // (all or nothing) in one round trip — a no-change sync's writes cost one trip, not four.
    await this.q(statements.join(';\n'), [], 'write the state (nothing was written)');
  }

  private statementsOf(user: string, ch: StateChange, out: string[]): void {
    const run = (text: string, values: unknown[]) => out.push(inline(text, [user, ...values]));
    switch (ch.op) {
      case 'item-put': {
        const i = ch.item;
        run(
          `INSERT INTO item (user_id, kind, crm_id, collection, href, etag, crm_version, content_hash, field_hashes, reason, links)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (user_id, kind, crm_id) DO UPDATE SET collection = $4, href = $5, etag = $6, crm_version = $7,
             content_hash = $8, field_hashes = $9, reason = $10, links = $11`,
          [i.kind, i.crmId, i.collection, i.href, i.etag, i.crmVersion, i.contentHash, JSON.stringify(i.fieldHashes), i.reason, JSON.stringify(i.links)],
        );
        return;
      }
      case 'item-delete':
        run('DELETE FROM item WHERE user_id = $1 AND kind = $2 AND crm_id = $3', [ch.ref.kind, ch.ref.crmId]);
        return;
      case 'device-only-put': {
        const f = ch.item;
        run(
          `INSERT INTO device_only_item (user_id, href, collection, etag, reason) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (user_id, href) DO UPDATE SET collection = $3, etag = $4, reason = $5`,
          [f.href, f.collection, f.etag, f.reason],
        );
        return;
      }
      case 'device-only-delete':
        run('DELETE FROM device_only_item WHERE user_id = $1 AND href = $2', [ch.href]);
        return;
      case 'exclusion-put':
        run(
          'INSERT INTO exclusion (user_id, kind, crm_id, since) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, kind, crm_id) DO UPDATE SET since = $4',
          [ch.ref.kind, ch.ref.crmId, ch.since],
        );
        return;
      case 'exclusion-delete':
        run('DELETE FROM exclusion WHERE user_id = $1 AND kind = $2 AND crm_id = $3', [ch.ref.kind, ch.ref.crmId]);
        return;
      case 'record-failed':
        run(
          'INSERT INTO failed_record (user_id, kind, crm_id, message) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, kind, crm_id) DO UPDATE SET message = $4',
          [ch.ref.kind, ch.ref.crmId, shorten(ch.message, MAX_STORED_MESSAGE)],
        );
        return;
      case 'record-settled':
        run('DELETE FROM failed_record WHERE user_id = $1 AND kind = $2 AND crm_id = $3', [ch.ref.kind, ch.ref.crmId]);
        return;
      case 'item-failed':
        run(
          'INSERT INTO failed_item (user_id, href, message) VALUES ($1, $2, $3) ON CONFLICT (user_id, href) DO UPDATE SET message = $3',
          [ch.href, shorten(ch.message, MAX_STORED_MESSAGE)],
        );
        return;
      case 'item-settled':
        run('DELETE FROM failed_item WHERE user_id = $1 AND href = $2', [ch.href]);
        return;
      case 'import-pending':
        run('INSERT INTO pending_import (user_id, href) VALUES ($1, $2) ON CONFLICT DO NOTHING', [ch.href]);
        return;
      case 'import-settled':
        run('DELETE FROM pending_import WHERE user_id = $1 AND href = $2', [ch.href]);
        return;
      case 'create-pending':
        run(
          'INSERT INTO pending_create (user_id, kind, crm_id, field_hashes) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, kind, crm_id) DO UPDATE SET field_hashes = $4',
          [ch.ref.kind, ch.ref.crmId, JSON.stringify(ch.fieldHashes)],
        );
        return;
      case 'create-settled':
        run('DELETE FROM pending_create WHERE user_id = $1 AND kind = $2 AND crm_id = $3', [ch.ref.kind, ch.ref.crmId]);
        return;
      case 'creates-settled':
        run('DELETE FROM pending_create WHERE user_id = $1', []);
        return;
      case 'attention-put': {
        const a = ch.item;
        run(
          `INSERT INTO attention (user_id, href, etag, collection, message) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (user_id, href) DO UPDATE SET etag = $3, collection = $4, message = $5`,
          [a.href, a.etag, a.collection, shorten(a.message, MAX_STORED_MESSAGE)],
        );
        return;
      }
      case 'attention-delete':
        run('DELETE FROM attention WHERE user_id = $1 AND href = $2', [ch.href]);
        return;
      case 'collection-put':
        run(
          'INSERT INTO collection (user_id, kind, url, sync_token) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, kind) DO UPDATE SET url = $3, sync_token = $4',
          [ch.kind, ch.url, ch.token],
        );
        return;
      case 'cursors-put':
        run('UPDATE mailbox SET cursors = $2 WHERE user_id = $1', [JSON.stringify(ch.cursors)]);
        return;
      case 'quirks-put':
        run('UPDATE mailbox SET server_quirks = $2 WHERE user_id = $1', [JSON.stringify(ch.quirks)]);
        return;
      case 'last-full-put':
        run('UPDATE mailbox SET last_full = $2 WHERE user_id = $1', [ch.at]);
        return;
      case 'identity-put':
        run('UPDATE mailbox SET identity = $2 WHERE user_id = $1', [ch.identity]);
        return;
      case 'reset':
        for (const table of MAILBOX_TABLES) run(`DELETE FROM ${table} WHERE user_id = $1`, []);
        run('UPDATE mailbox SET identity = NULL, cursors = NULL, server_quirks = NULL, last_full = NULL WHERE user_id = $1', []);
        return;
      default: {
        const never: never = ch;
        throw new Error(`unknown state change ${JSON.stringify(never)}`);
      }
    }
  }

  async getStatus(user: string): Promise<MailboxStatus> {
    const [row] = await this.q<MailboxRow>('SELECT * FROM mailbox WHERE user_id = $1', [user]);
    return rowToStatus(row, user);
  }

  async setStatus(user: string, patch: StatusPatch): Promise<void> {
    await this.q(statusStatement('mailbox', user, patch, true));
  }

  async setStatuses(patches: ReadonlyMap<string, StatusPatch>): Promise<void> {
    if (!patches.size) return;
    // One simple-protocol message, one implicit transaction: N mailboxes in one round trip.
    await this.q([...patches].map(([user, patch]) => statusStatement('mailbox', user, patch, true)).join(';\n'), [], 'store the statuses');
  }

  async listStatuses(): Promise<MailboxStatus[]> {
    const rows = await this.q<MailboxRow>('SELECT * FROM mailbox ORDER BY user_id COLLATE "C"');
    return rows.map((r) => rowToStatus(r, r.user_id));
  }

  async pendingCounts(): Promise<Map<string, number>> {
    const rows = await this.q<{ user_id: string; n: number }>(
      `SELECT user_id, count(*)::int AS n FROM (
         SELECT user_id FROM failed_record UNION ALL SELECT user_id FROM failed_item
         UNION ALL SELECT user_id FROM pending_import) t
       GROUP BY user_id`,
    );
    return new Map(rows.map((r) => [r.user_id, r.n]));
  }

  async listAttention(user: string): Promise<AttentionItem[]> {
    return this.q<AttentionItem>('SELECT href, etag, collection, message FROM attention WHERE user_id = $1 ORDER BY href COLLATE "C"', [user]);
  }

  async heldIds(user: string): Promise<{ address: string[]; activity: string[] }> {
    const rows = await this.q<{ kind: RecordRef['kind']; ids: string[] }>('SELECT kind, array_agg(crm_id) AS ids FROM item WHERE user_id = $1 GROUP BY kind', [user]);
    const out = { address: [] as string[], activity: [] as string[] };
    for (const r of rows) out[r.kind] = r.ids;
    return out;
  }

  async holders(refs: RecordRef[]): Promise<Set<string>> {
    if (!refs.length) return new Set();
    const [kinds, ids] = refArrays(refs);
    const rows = await this.q<{ user_id: string }>('SELECT DISTINCT user_id FROM item WHERE (kind, crm_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))', [kinds, ids]);
    return new Set(rows.map((r) => r.user_id));
  }

  async staleUsers(assigned: Set<string>, olderThan: string): Promise<string[]> {
    const rows = await this.q<{ user_id: string }>(
      // A mailbox the shared assignments hold is never purged by a caller that does not know it
      // (a host whose view is older, or code still reading config.json's empty list, D87).
      `SELECT user_id FROM mailbox m
       WHERE (NOT (user_id = ANY($1::text[])) AND NOT EXISTS (SELECT 1 FROM assignment a WHERE a.user_id = m.user_id))
          OR (user_id = ANY($1::text[]) AND coalesce(last_success, finished_at, '') <> '' AND coalesce(last_success, finished_at) COLLATE "C" < $2)
       ORDER BY user_id COLLATE "C"`,
      [[...assigned], olderThan],
    );
    return rows.map((r) => r.user_id);
  }

  async forget(user: string): Promise<void> {
    const statements = [...MAILBOX_TABLES, 'mailbox'].map((table) => inline(`DELETE FROM ${table} WHERE user_id = $1`, [user]));
    await this.q(statements.join(';\n'), [], 'forget the mailbox');
  }

  /** The one session that holds this store's leases; a new one after the last one died. */
  private leaseSession(): Promise<pg.Client> {
    if (this.leaseClient) return Promise.resolve(this.leaseClient);
    this.leaseConnecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.opts.url, application_name: applicationName(), keepAlive: true, connectionTimeoutMillis: 10_000 });
      client.on('error', () => this.leaseSessionLost(client));
      client.on('end', () => this.leaseSessionLost(client));
      try {
        await client.connect();
      } catch (err) {
        throw this.unavailable('be reached for a mailbox lease', err);
      } finally {
        this.leaseConnecting = null;
      }
      this.leaseClient = client;
      return client;
    })();
    return this.leaseConnecting;
  }

  /** The session died: PostgreSQL has released its locks, so every lease it held is lost. */
  private leaseSessionLost(client: pg.Client): void {
    if (this.leaseClient !== client) return;
    this.leaseClient = null;
    for (const [user, h] of this.held) {
      this.lost.add(user);
      h.lost.abort(new Error('the connection that held the mailbox lease was lost'));
    }
    this.held.clear();
  }

  /** Backend pid of the lease session (tests terminate it to play a dead holder). */
  async leaseBackendPid(): Promise<number> {
    const client = await this.leaseSession();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return rows[0]!.pid;
  }

  async lease(user: string, status?: StatusPatch): Promise<MailboxLease> {
    // Advisory locks are re-entrant per session: the same store asking twice is refused here.
    if (this.held.has(user)) throw new MailboxLeasedError(user, { host: os.hostname(), pid: process.pid });
    const client = await this.leaseSession();
    const key = advisoryKey(this.opts.schema, `lease:${user}`);
    let got: boolean;
    try {
      // With a status: written in the same statement, only when the lock was got (D94). The
      // lease session has no search_path of its own: the table is named with its schema.
      const text = status
        ? `WITH l AS (SELECT pg_try_advisory_lock(${pg.escapeLiteral(key)}::bigint) AS ok), s AS (${statusStatement(`${this.opts.schema}.mailbox`, user, status, false)} FROM l WHERE l.ok ${statusConflict(status)}) SELECT ok FROM l`
        : `SELECT pg_try_advisory_lock(${pg.escapeLiteral(key)}::bigint) AS ok`;
      const { rows } = await client.query<{ ok: boolean }>(text);
      got = rows[0]!.ok;
    } catch (err) {
      // A session lock taken by a statement that failed afterwards stays held: let it go.
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => undefined);
      throw this.unavailable('take a mailbox lease', err);
    }
    if (!got) throw new MailboxLeasedError(user, await this.leaseHolder(key));
    const held: Held = { lost: new AbortController() };
    this.held.set(user, held);
    this.lost.delete(user);
    return {
      lost: held.lost.signal,
      release: async () => {
        if (this.held.get(user) !== held) return; // lost with its session, or released already
        this.held.delete(user);
        await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => undefined);
      },
    };
  }

  private async leaseHolder(key: string): Promise<{ host: string; pid: number } | null> {
    const big = BigInt.asUintN(64, BigInt(key));
    const rows = await this.q<{ application_name: string | null }>(
      `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [(big >> 32n).toString(), (big & 0xffffffffn).toString()],
    ).catch(() => []);
    return parseApplicationName(rows[0]?.application_name ?? null);
  }

  async fieldHashKey(adopt?: string): Promise<string> {
    // Created once by whichever process asks first; every other process reads the same key. It
    // never changes after, so each store reads it once, not once per mailbox sync (D94).
    if (this.hashKey) return this.hashKey;
    await this.q('INSERT INTO setting (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [FIELD_HASH_KEY, adopt ?? randomBytes(32).toString('hex')]);
    const [row] = await this.q<{ value: string }>('SELECT value FROM setting WHERE key = $1', [FIELD_HASH_KEY]);
    this.hashKey = row!.value;
    return this.hashKey;
  }

  // ClusterTables (shared.ts): assignments and sealed passwords, shared by every host.
  async listAssignments(): Promise<{ user: string; mailbox: unknown }[]> {
    const rows = await this.q<{ user_id: string; mailbox: unknown }>('SELECT user_id, mailbox FROM assignment ORDER BY user_id COLLATE "C"', [], 'read the assignments');
    return rows.map((r) => ({ user: r.user_id, mailbox: r.mailbox }));
  }

  async writeAssignments(put: { user: string; mailbox: unknown }[], remove: string[]): Promise<void> {
    if (!put.length && !remove.length) return;
    const client = await this.pool.connect().catch((err: unknown) => {
      throw this.unavailable('write the assignments', err);
    });
    try {
      await client.query('BEGIN');
      if (remove.length) await client.query('DELETE FROM assignment WHERE user_id = ANY($1::text[])', [remove]);
      for (const p of put) {
        await client.query('INSERT INTO assignment (user_id, mailbox) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET mailbox = $2, updated_at = now()', [p.user, JSON.stringify(p.mailbox)]);
      }
      await client.query("UPDATE setting SET value = (value::bigint + 1)::text WHERE key = 'assignment-revision'");
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw this.unavailable('write the assignments', err);
    } finally {
      client.release();
    }
  }

  async assignmentRevision(): Promise<string> {
    const [row] = await this.q<{ value: string }>("SELECT value FROM setting WHERE key = 'assignment-revision'");
    return row?.value ?? '0';
  }

  async getSealedSecret(ref: string): Promise<string | null> {
    const [row] = await this.q<{ sealed: string }>('SELECT sealed FROM sealed_secret WHERE ref = $1', [ref], 'read a sealed password');
    return row?.sealed ?? null;
  }

  async putSealedSecret(ref: string, sealed: string, keyId: string): Promise<void> {
    await this.q('INSERT INTO sealed_secret (ref, sealed, key_id) VALUES ($1, $2, $3) ON CONFLICT (ref) DO UPDATE SET sealed = $2, key_id = $3, updated_at = now()', [ref, sealed, keyId], 'store a sealed password');
  }

  async deleteSealedSecret(ref: string): Promise<void> {
    await this.q('DELETE FROM sealed_secret WHERE ref = $1', [ref], 'remove a sealed password');
  }

  async close(): Promise<void> {
    const lease = this.leaseClient;
    this.leaseClient = null;
    for (const h of this.held.values()) h.lost.abort(new Error('the state store was closed'));
    this.held.clear();
    await lease?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
