// The one SQL CrmProvider over SQLite, PostgreSQL and MariaDB/MySQL. It reads the view
// contract (docs/crm-views.md); the embedded CRM has real tables of the same shapes.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { CrmNotFoundError, CrmUnavailableError, SyncCliError } from '../../errors.js';
import { connectionReason, createKysely, describeCrmUrl, probeConnection, type CrmConnectionOptions } from './connect.js';
import type {
  Activity, ActivityFields, Address, AddressFields, ChangePage, CrmCursor, CrmProvider, CrmUser, FeedScope, NewActivity,
  NewAddress, RecordKind, ScopeIds, ScopeQuery, Tombstone, TombstoneScope,
} from './model.js';
import type { CrmDatabase } from './rows.js';
import { CrmStore, type StoredActivity, type StoredAddress } from './store.js';
import { VIEW_CONTRACT, crmTablesDdl, type SqlDialect } from './tables.js';

function stripAddress({ extra: _extra, ...a }: StoredAddress): Address {
  return a;
}
function stripActivity({ extra: _extra, ...a }: StoredActivity): Activity {
  return a;
}

function page<T>(items: T[], limit: number, cursorOf: (item: T) => CrmCursor): ChangePage<T> {
  const last = items[items.length - 1];
  return { items, next: last === undefined ? null : cursorOf(last), more: items.length >= limit && limit > 0 };
}

export class SqlCrmProvider implements CrmProvider {
  private constructor(
    readonly db: Kysely<CrmDatabase>,
    readonly dialect: SqlDialect,
    readonly description: string,
    /** True for the embedded CRM's tables (they keep unknown exchange keys in `extra`). */
    readonly hasExtra: boolean,
  ) {}

  /**
   * Connects, checks the view contract and returns the provider. Unreachable database or a
   * missing view/column → CrmUnavailableError naming the URL (password masked) and what failed.
   */
  static async open(opts: CrmConnectionOptions): Promise<SqlCrmProvider> {
    const db = createKysely(opts);
    await probeConnection(db, opts.dialect, opts.url);
    const description = describeCrmUrl(opts.dialect, opts.url);
    if (opts.dialect === 'postgres' && opts.schema) {
      // A schema that does not exist would show up as nine missing views: say what is wrong.
      const found = await sql<{ nspname: string }>`select nspname from pg_namespace where nspname not like 'pg\_%' and nspname <> 'information_schema' order by nspname`.execute(db);
      const names = found.rows.map((r) => r.nspname);
      if (!names.includes(opts.schema)) {
        await db.destroy().catch(() => undefined);
        throw new CrmUnavailableError(
          `The schema "${opts.schema}" does not exist in the CRM database ${description} (schemas there: ${names.join(', ') || 'none'})`,
          `Give the schema that holds the sync_* views with --schema (or create it and the views, docs/crm-views.md).`,
        );
      }
    }
    const problems: string[] = [];
    for (const [view, columns] of Object.entries(VIEW_CONTRACT)) {
      try {
        await sql`select ${sql.join(columns.map((c) => sql.ref(c)))} from ${sql.table(view)} where 1 = 0`.execute(db);
      } catch (err) {
        problems.push(`${view}: ${connectionReason(err)}`);
      }
    }
    if (problems.length) {
      await db.destroy().catch(() => undefined);
      const where = opts.dialect === 'postgres' ? ` (schema ${opts.schema ?? 'public, the default search path'})` : '';
      // None of them at all: the wrong database or schema, not nine separate problems.
      const head =
        problems.length === Object.keys(VIEW_CONTRACT).length
          ? `The CRM database ${description}${where} has none of the sync_* views sync-cli reads`
          : `The CRM database ${description}${where} does not follow the view contract:\n  ${problems.join('\n  ')}`;
      throw new CrmUnavailableError(
        head,
        opts.dialect === 'sqlite'
          ? 'Create the embedded CRM with `sync-cli crm init`, or create the sync_* views described in docs/crm-views.md.'
          : opts.dialect === 'postgres'
            ? 'Create the sync_* views described in docs/crm-views.md, or name the schema that holds them (--schema with crm connect, crm.schema in config.json).'
            : 'Create the sync_* views described in docs/crm-views.md in this database.',
      );
    }
    let hasExtra = true;
    try {
      await sql`select extra from sync_addresses where 1 = 0`.execute(db);
      await sql`select extra from sync_activities where 1 = 0`.execute(db);
      await sql`select extra from sync_users where 1 = 0`.execute(db);
    } catch {
      hasExtra = false;
    }
    return new SqlCrmProvider(db, opts.dialect, description, hasExtra);
  }

  /** Creates the embedded CRM's tables (crm init, tests). The database must be empty of them. */
  static async createTables(opts: CrmConnectionOptions): Promise<void> {
    const db = createKysely({ ...opts, create: true });
    await probeConnection(db, opts.dialect, opts.url);
    try {
      for (const ddl of crmTablesDdl(opts.dialect)) await sql.raw(ddl).execute(db);
    } finally {
      await db.destroy();
    }
  }

  /** A store on the provider's connection (reads, single writes). */
  store(): CrmStore {
    return new CrmStore(this.db, this.dialect, this.hasExtra);
  }

  /** Runs fn in one transaction: all of its writes land or none do. */
  async transaction<T>(fn: (store: CrmStore) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction().execute((trx) => fn(new CrmStore(trx, this.dialect, this.hasExtra)));
    } catch (err) {
      if (err instanceof SyncCliError) throw err;
      // A database refusal (read-only view, constraint, lost connection): typed, one line, rolled back.
      throw new CrmUnavailableError(
        `The CRM database ${this.description} refused the change (nothing was written): ${connectionReason(err)}`,
        this.hasExtra ? 'Check that the database is writable and reachable.' : 'The sync_* views must accept writes: updatable views or INSTEAD OF triggers (docs/crm-views.md).',
        err,
      );
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  now(): Promise<string> {
    return this.store().now();
  }

  async listUsers(): Promise<CrmUser[]> {
    return (await this.store().listUsers()).map(({ extra: _extra, ...u }) => u);
  }

  async findUser(idOrLogin: string): Promise<CrmUser | null> {
    const users = await this.listUsers();
    return users.find((u) => u.id === idOrLogin) ?? users.find((u) => u.login === idOrLogin) ?? null;
  }

  async listTags(): Promise<string[]> {
    const tags = new Set<string>();
    for (const u of await this.listUsers()) [u.userTag, ...u.addressTags, ...u.activityTags].forEach((t) => tags.add(t));
    for (const r of await this.db.selectFrom('sync_address_tags').select('tag').distinct().execute()) tags.add(r.tag);
    for (const r of await this.db.selectFrom('sync_activity_tags').select('tag').distinct().execute()) tags.add(r.tag);
    return [...tags].sort((a, b) => a.localeCompare(b, 'de'));
  }

  async addressChangesSince(cursor: CrmCursor | null, limit: number, scope?: FeedScope): Promise<ChangePage<Address>> {
    return this.feedPage('sync_addresses', cursor, limit, scope, async (store, sc) => (await store.addressPage(cursor, limit, sc)).map(stripAddress), (a) => ({ ts: a.updatedAt, id: a.id }));
  }

  async activityChangesSince(cursor: CrmCursor | null, limit: number, scope?: FeedScope): Promise<ChangePage<Activity>> {
    return this.feedPage('sync_activities', cursor, limit, scope, async (store, sc) => (await store.activityPage(cursor, limit, sc)).map(stripActivity), (a) => ({ ts: a.updatedAt, id: a.id }));
  }

  async tombstonesSince(cursor: CrmCursor | null, limit: number, scope?: TombstoneScope): Promise<ChangePage<Tombstone>> {
    return this.feedPage('sync_tombstones', cursor, limit, scope, (store, sc) => store.tombstonePage(cursor, limit, sc), (t) => ({ ts: t.deletedAt, id: `${t.kind}:${t.id}` }));
  }

  async hasChangesSince(from: { addresses: CrmCursor | null; activities: CrmCursor | null; tombstones: CrmCursor | null }): Promise<boolean> {
    return this.store().anyChangeSince(from);
  }

  /**
   * One page of a feed. Scoped: bounded by the feed's high-water mark read first, so that the
   * last page can hand back that mark as `next` — the records between the last one that passed
   * the filter and the mark concern this mailbox not at all, and are not read again.
   */
  private async feedPage<T, S>(
    view: 'sync_addresses' | 'sync_activities' | 'sync_tombstones',
    cursor: CrmCursor | null,
    limit: number,
    scope: S | undefined,
    read: (store: CrmStore, scope?: { where: S; upTo: CrmCursor }) => Promise<T[]>,
    cursorOf: (item: T) => CrmCursor,
  ): Promise<ChangePage<T>> {
    const store = this.store();
    if (!scope) return page(await read(store), limit, cursorOf);
    const upTo = await store.highWater(view, cursor);
    if (!upTo) return { items: [], next: null, more: false };
    const scoped = page(await read(store, { where: scope, upTo }), limit, cursorOf);
    return scoped.more ? scoped : { ...scoped, next: upTo };
  }

  async scopeIds(query: ScopeQuery): Promise<ScopeIds> {
    const store = this.store();
    return {
      addresses: await store.scopeAddressIds(query.userId, query.addressTags),
      activities: await store.scopeActivityIds(query.userId, query.activityTags),
    };
  }

  async getAddresses(ids: string[]): Promise<Address[]> {
    return (await this.store().getAddresses(ids)).map(stripAddress);
  }

  async getActivities(ids: string[]): Promise<Activity[]> {
    return (await this.store().getActivities(ids)).map(stripActivity);
  }

  async createAddress(input: NewAddress): Promise<Address> {
    const id = randomUUID();
    return this.transaction(async (store) => {
      await store.insertAddress(id, input);
      return stripAddress(await this.readAddress(store, id));
    });
  }

  async updateAddress(id: string, patch: Partial<AddressFields>, expectedVersion: string): Promise<Address> {
    return this.transaction(async (store) => {
      const before = await this.readAddress(store, id);
      await store.updateAddress(id, { ...before, ...patch }, before, expectedVersion);
      return stripAddress(await this.readAddress(store, id));
    });
  }

  async createActivity(input: NewActivity): Promise<Activity> {
    const id = randomUUID();
    return this.transaction(async (store) => {
      await store.insertActivity(id, input);
      return stripActivity(await this.readActivity(store, id));
    });
  }

  async updateActivity(id: string, patch: Partial<ActivityFields>, expectedVersion: string): Promise<Activity> {
    return this.transaction(async (store) => {
      const before = await this.readActivity(store, id);
      await store.updateActivity(id, { ...before, ...patch }, before, expectedVersion);
      return stripActivity(await this.readActivity(store, id));
    });
  }

  async removeTag(kind: RecordKind, id: string, tag: string): Promise<void> {
    await this.transaction((store) => store.removeTag(kind, id, tag));
  }

  async setDone(id: string, done: boolean, expectedVersion: string): Promise<Activity> {
    return this.transaction(async (store) => {
      await store.bump('sync_activities', 'activity', id, expectedVersion, { is_done: done ? 1 : 0 });
      return stripActivity(await this.readActivity(store, id));
    });
  }

  /** EXPLAIN output of the change-feed query, or of one mailbox's page of it (tests prove it reads an index). */
  async explainChangeQuery(view: 'sync_addresses' | 'sync_activities' | 'sync_tombstones', scoped?: { from: CrmCursor; scope: FeedScope }): Promise<string> {
    const store = this.store();
    const cursor = scoped?.from ?? { ts: new Date().toISOString(), id: view === 'sync_tombstones' ? 'address:x' : 'x' };
    let compiled;
    if (view === 'sync_tombstones') compiled = store.tombstoneQuery(cursor, 100).compile();
    else if (!scoped) compiled = store.changeQuery(view, cursor, 100).compile();
    else {
      const upTo = (await store.highWater(view, cursor)) ?? cursor;
      compiled = store.changeQuery(view, cursor, 100, { where: scoped.scope, upTo, byTag: await store.readByTag(view, scoped.scope) }).compile();
    }
    const prefix = this.dialect === 'sqlite' ? 'EXPLAIN QUERY PLAN ' : 'EXPLAIN ';
    const result = await this.db.executeQuery({ ...compiled, sql: prefix + compiled.sql });
    return (result.rows as Record<string, unknown>[]).map((r) => JSON.stringify(r)).join('\n');
  }

  private async readAddress(store: CrmStore, id: string): Promise<StoredAddress> {
    const [found] = await store.getAddresses([id]);
    if (!found) throw new CrmNotFoundError('address', id);
    return found;
  }

  private async readActivity(store: CrmStore, id: string): Promise<StoredActivity> {
    const [found] = await store.getActivities([id]);
    if (!found) throw new CrmNotFoundError('activity', id);
    return found;
  }
}
