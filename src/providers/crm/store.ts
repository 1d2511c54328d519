// Reads and writes of the view contract on one connection or transaction. The provider and the
// exchange import both write through here, so every write stamps updated_at with the database
// clock and bumps the version in one place.
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { CrmNotFoundError, CrmVersionConflictError } from '../../errors.js';
import type { Activity, ActivityKind, Address, CrmCursor, CrmUser, FeedScope, NewActivity, NewAddress, RecordKind, Tombstone, TombstoneScope } from './model.js';
import type { ActivityRow, AddressRow, CrmDatabase, UserRow } from './rows.js';
import { VIEW_CONTRACT, type SqlDialect } from './tables.js';
import { dbCalendarValue, dbTimestampToIso } from './time.js';

/** Keys of the exchange file the embedded CRM does not know are kept here (crm-exchange.md). */
export type Extra = Record<string, unknown>;
export type StoredAddress = Address & { extra: Extra | null };
export type StoredActivity = Activity & { extra: Extra | null };
export type AddressData = NewAddress & { extra?: Extra | null };
export type ActivityData = NewActivity & { extra?: Extra | null };
export type UserData = CrmUser & { extra?: Extra | null };

type Db = Kysely<CrmDatabase> | Transaction<CrmDatabase>;

const CHUNK = 500;

function chunks<T>(items: T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function flag(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 't';
}

function parseExtra(v: unknown): Extra | null {
  if (v === null || v === undefined || v === '') return null;
  try {
    const parsed: unknown = JSON.parse(String(v));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Extra) : null;
  } catch {
    return null;
  }
}

function extraText(extra: Extra | null | undefined): string | null {
  return extra && Object.keys(extra).length ? JSON.stringify(extra) : null;
}

export function splitTagList(text: string | null | undefined): string[] {
  return (text ?? '').split(',').map((t) => t.trim()).filter(Boolean);
}

function withUserTag(userTag: string, tags: string[]): string[] {
  return [...new Set([userTag, ...tags])];
}

export function rowToUser(r: UserRow): CrmUser & { extra: Extra | null } {
  return {
    id: String(r.id),
    login: r.login,
    name: r.name,
    email: r.email ?? null,
    userTag: r.user_tag,
    addressTags: withUserTag(r.user_tag, splitTagList(r.address_tags)),
    activityTags: withUserTag(r.user_tag, splitTagList(r.activity_tags)),
    importAppointmentType: r.import_appointment_type,
    importTaskType: r.import_task_type,
    extra: parseExtra(r.extra),
  };
}

/** Tags of a user as stored: the user tag first, no duplicates, so a re-import compares equal. */
export function userToRow(u: UserData): UserRow {
  return {
    id: u.id,
    login: u.login,
    name: u.name,
    email: u.email ?? null,
    user_tag: u.userTag,
    address_tags: withUserTag(u.userTag, u.addressTags).join(','),
    activity_tags: withUserTag(u.userTag, u.activityTags).join(','),
    import_appointment_type: u.importAppointmentType,
    import_task_type: u.importTaskType,
    extra: extraText(u.extra),
  };
}

function addressFields(d: AddressData) {
  return {
    company: d.company, salutation: d.salutation, title: d.title, first_name: d.firstName, last_name: d.lastName,
    street: d.street, postal_code: d.postalCode, city: d.city, country: d.country, fax: d.fax, email: d.email,
    note: d.note, is_private: d.private ? 1 : 0, owner_id: d.owner,
  };
}

function activityFields(d: ActivityData) {
  return {
    kind: d.kind, type: d.type, subject: d.subject, start_at: d.start, end_at: d.end, all_day: d.allDay ? 1 : 0,
    time_zone: d.timeZone, due_at: d.due, alarm_minutes: d.alarmMinutes, note: d.note, is_done: d.done ? 1 : 0,
    is_private: d.private ? 1 : 0, owner_id: d.owner,
  };
}

/** Cursor ids of tombstones carry the kind, since (deleted_at, kind, id) is their order. */
/**
 * D109: a mailbox's scoped feed pages are read by the tag index while its tags carry at most this
 * many records (see `CrmStore.readByTag`). An object so that the contract tests can run the
 * scoped feed both ways; nothing else changes it.
 */
export const FEED_PLAN = { byTagMax: 2_000 };

function tagViewOf(view: 'sync_addresses' | 'sync_activities') {
  return view === 'sync_addresses' ? (['sync_address_tags', 'address_id'] as const) : (['sync_activity_tags', 'activity_id'] as const);
}

export function tombstoneCursorId(kind: string, id: string): string {
  return `${kind}:${id}`;
}

export class CrmStore {
  constructor(
    readonly db: Db,
    readonly dialect: SqlDialect,
    /** The embedded CRM's tables have an `extra` column; customer views need not. */
    readonly hasExtra: boolean,
  ) {}

  /** The database clock as the change stamp of a write. */
  nowExpr(): RawBuilder<string> {
    switch (this.dialect) {
      case 'sqlite':
        return sql<string>`strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;
      case 'postgres':
        return sql<string>`clock_timestamp()`;
      case 'mysql':
        return sql<string>`UTC_TIMESTAMP(3)`;
    }
  }

  async now(): Promise<string> {
    const r = await sql<{ now: string }>`select ${this.nowExpr()} as now`.execute(this.db);
    return dbTimestampToIso(r.rows[0]?.now);
  }

  /** A cursor timestamp in the form the dialect compares exactly against its stored stamps. */
  tsParam(iso: string): string {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) throw new Error(`invalid cursor timestamp ${iso}`);
    switch (this.dialect) {
      case 'sqlite':
        return date.toISOString();
      case 'postgres':
        return iso;
      case 'mysql':
        return date.toISOString().replace('T', ' ').replace('Z', '');
    }
  }

  private columns(view: 'sync_addresses' | 'sync_activities' | 'sync_users'): string[] {
    const cols = VIEW_CONTRACT[view] ?? [];
    return this.hasExtra ? [...cols, 'extra'] : cols;
  }

  // ---- users ----

  async listUsers(): Promise<(CrmUser & { extra: Extra | null })[]> {
    const rows = (await this.db.selectFrom('sync_users').select(this.columns('sync_users') as never[]).orderBy('login').execute()) as UserRow[];
    return rows.map(rowToUser);
  }

  async upsertUser(u: UserData, exists: boolean): Promise<void> {
    const row = userToRow(u);
    if (!this.hasExtra) delete row.extra;
    if (exists) {
      const { id, ...rest } = row;
      await this.db.updateTable('sync_users').set(rest).where('id', '=', id).execute();
    } else {
      await this.db.insertInto('sync_users').values(row).execute();
    }
  }

  // ---- change feeds ----

  /** `(stamp, id) > cursor` (after) or `<= cursor` (up to), in the form the dialect's index serves. */
  private cursorWhere(cursor: CrmCursor, stampColumn: 'updated_at' | 'deleted_at', op: '>' | '<=' = '>') {
    const ts = this.tsParam(cursor.ts);
    const stamp = sql.ref(stampColumn);
    const cmp = sql.raw(op);
    if (this.dialect === 'mysql') {
      // MariaDB/MySQL use an index range only for the expanded form, not for row values.
      const strict = sql.raw(op === '>' ? '>' : '<');
      return sql<boolean>`(${stamp} ${strict} ${ts} or (${stamp} = ${ts} and id ${cmp} ${cursor.id}))`;
    }
    return sql<boolean>`(${stamp}, id) ${cmp} (${ts}, ${cursor.id})`;
  }

  private tombstoneWhere(cursor: CrmCursor, op: '>' | '<=' = '>') {
    const ts = this.tsParam(cursor.ts);
    const sep = cursor.id.indexOf(':');
    const kind = sep < 0 ? '' : cursor.id.slice(0, sep);
    const id = sep < 0 ? cursor.id : cursor.id.slice(sep + 1);
    const cmp = sql.raw(op);
    if (this.dialect === 'mysql') {
      const strict = sql.raw(op === '>' ? '>' : '<');
      return sql<boolean>`(deleted_at ${strict} ${ts} or (deleted_at = ${ts} and (kind ${strict} ${kind} or (kind = ${kind} and id ${cmp} ${id}))))`;
    }
    return sql<boolean>`(deleted_at, kind, id) ${cmp} (${ts}, ${kind}, ${id})`;
  }

  /** `column` is one of `ids`, as one parameter where the dialect allows (a held list can be long). */
  private oneOf(column: string, ids: string[]) {
    const ref = sql.ref(column);
    switch (this.dialect) {
      case 'postgres':
        return sql<boolean>`${ref} = ANY(${ids}::text[])`;
      case 'sqlite':
        return sql<boolean>`${ref} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`;
      case 'mysql':
        return sql<boolean>`${ref} IN (${sql.join(ids)})`;
    }
  }

  /**
   * The SQL form of FeedScope: tagged for the user and visible to the user (R1, R2, R4), or held.
   * `byTag`: the same predicate written so that the database reads the mailbox's records by the
   * tag index (`id IN (…tagged…)`) instead of testing every row of the changed range (D109).
   */
  private feedScopeWhere(view: 'sync_addresses' | 'sync_activities', scope: FeedScope, byTag = false) {
    const [tagView, fk] = tagViewOf(view);
    const parts = [];
    if (scope.tags.length) {
      const tagged = byTag
        ? sql<boolean>`${sql.ref(`${view}.id`)} in (select ${sql.ref(fk)} from ${sql.table(tagView)} where tag in (${sql.join(scope.tags)}))`
        : sql<boolean>`exists (select 1 from ${sql.table(tagView)} st where ${sql.ref(`st.${fk}`)} = ${sql.ref(`${view}.id`)} and st.tag in (${sql.join(scope.tags)}))`;
      parts.push(sql<boolean>`(${tagged} and (${sql.ref(`${view}.is_private`)} = 0 or ${sql.ref(`${view}.owner_id`)} = ${scope.userId}))`);
    }
    if (scope.held.length) parts.push(this.oneOf(`${view}.id`, scope.held));
    return parts.length ? sql<boolean>`(${sql.join(parts, sql` or `)})` : sql<boolean>`1 = 0`;
  }

  /**
   * True when any of the three feeds has something after its cursor: one statement of three
   * EXISTS probes (each an index range that stops at its first row). The quiet path of every
   * no-change sync asks this; three statements cost three times the per-statement overhead, and
   * on a remote CRM three round trips.
   */
  async anyChangeSince(from: { addresses: CrmCursor | null; activities: CrmCursor | null; tombstones: CrmCursor | null }): Promise<boolean> {
    // A raw template around the shared cursor predicates: the query builder's tree for this
    // statement cost more to build and compile than SQLite needs to run it, on every sync.
    const feed = (view: 'sync_addresses' | 'sync_activities', cursor: CrmCursor | null) =>
      cursor ? sql`exists (select 1 from ${sql.table(view)} where ${this.cursorWhere(cursor, 'updated_at')})` : sql`exists (select 1 from ${sql.table(view)})`;
    const tombstones = from.tombstones ? sql`exists (select 1 from sync_tombstones where ${this.tombstoneWhere(from.tombstones)})` : sql`exists (select 1 from sync_tombstones)`;
    const { rows } = await sql<{ changed: number | string }>`select case when ${feed('sync_addresses', from.addresses)} or ${feed('sync_activities', from.activities)} or ${tombstones} then 1 else 0 end as changed`.execute(this.db);
    const r = rows[0];
    return Number(r?.changed) === 1;
  }

  /** The newest (stamp, id) after the cursor, or null when the feed has nothing after it. */
  async highWater(view: 'sync_addresses' | 'sync_activities' | 'sync_tombstones', cursor: CrmCursor | null): Promise<CrmCursor | null> {
    if (view === 'sync_tombstones') {
      let q = this.db.selectFrom('sync_tombstones').select(['kind', 'id', 'deleted_at']);
      if (cursor) q = q.where(this.tombstoneWhere(cursor));
      const r = await q.orderBy('deleted_at', 'desc').orderBy('kind', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
      return r ? { ts: dbTimestampToIso(r.deleted_at), id: tombstoneCursorId(r.kind, String(r.id)) } : null;
    }
    let q = this.db.selectFrom(view).select(['updated_at', 'id']);
    if (cursor) q = q.where(this.cursorWhere(cursor, 'updated_at'));
    const r = await q.orderBy('updated_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
    return r ? { ts: dbTimestampToIso(r.updated_at), id: String(r.id) } : null;
  }

  /** A page of the feed after `cursor`; with `scope`, of what concerns one mailbox, up to `upTo`. */
  changeQuery(view: 'sync_addresses' | 'sync_activities', cursor: CrmCursor | null, limit: number, scope?: { where: FeedScope; upTo: CrmCursor; byTag?: boolean }) {
    let q = this.db.selectFrom(view).select(this.columns(view) as never[]);
    if (cursor) q = q.where(this.cursorWhere(cursor, 'updated_at'));
    if (scope) q = q.where(this.cursorWhere(scope.upTo, 'updated_at', '<=')).where(this.feedScopeWhere(view, scope.where, scope.byTag));
    return q.orderBy('updated_at').orderBy('id').limit(limit);
  }

  /**
   * D109: whether a mailbox's feed page is read by its tags. A changed range can hold every
   * record of the CRM (a bulk import): walking it by the change index and testing each row
   * costs changes × mailboxes. A mailbox whose tags carry at most `FEED_PLAN.byTagMax` records
   * reads those by the tag index instead (bounded by its share, whatever the range); a larger
   * share is dense enough in any range for the change index, which stops at the page's end.
   */
  async readByTag(view: 'sync_addresses' | 'sync_activities', scope: FeedScope): Promise<boolean> {
    if (!scope.tags.length || FEED_PLAN.byTagMax <= 0) return false;
    const [tagView] = tagViewOf(view);
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from (select 1 as one from ${sql.table(tagView)} where tag in (${sql.join(scope.tags)}) limit ${sql.lit(FEED_PLAN.byTagMax + 1)}) share`.execute(this.db);
    return Number(rows[0]?.n ?? 0) <= FEED_PLAN.byTagMax;
  }

  tombstoneQuery(cursor: CrmCursor | null, limit: number, scope?: { where: TombstoneScope; upTo: CrmCursor }) {
    let q = this.db.selectFrom('sync_tombstones').select(['kind', 'id', 'deleted_at']);
    if (cursor) q = q.where(this.tombstoneWhere(cursor));
    if (scope) {
      const { address, activity } = scope.where.held;
      const held = [
        ...(address.length ? [sql<boolean>`(kind = 'address' and ${this.oneOf('id', address)})`] : []),
        ...(activity.length ? [sql<boolean>`(kind = 'activity' and ${this.oneOf('id', activity)})`] : []),
      ];
      q = q.where(this.tombstoneWhere(scope.upTo, '<=')).where(held.length ? sql<boolean>`(${sql.join(held, sql` or `)})` : sql<boolean>`1 = 0`);
    }
    return q.orderBy('deleted_at').orderBy('kind').orderBy('id').limit(limit);
  }

  async addressPage(cursor: CrmCursor | null, limit: number, scope?: { where: FeedScope; upTo: CrmCursor }): Promise<StoredAddress[]> {
    const byTag = scope ? await this.readByTag('sync_addresses', scope.where) : false;
    const rows = (await this.changeQuery('sync_addresses', cursor, limit, scope && { ...scope, byTag }).execute()) as AddressRow[];
    return this.hydrateAddresses(rows);
  }

  async activityPage(cursor: CrmCursor | null, limit: number, scope?: { where: FeedScope; upTo: CrmCursor }): Promise<StoredActivity[]> {
    const byTag = scope ? await this.readByTag('sync_activities', scope.where) : false;
    const rows = (await this.changeQuery('sync_activities', cursor, limit, scope && { ...scope, byTag }).execute()) as ActivityRow[];
    return this.hydrateActivities(rows);
  }

  async tombstonePage(cursor: CrmCursor | null, limit: number, scope?: { where: TombstoneScope; upTo: CrmCursor }): Promise<Tombstone[]> {
    const rows = await this.tombstoneQuery(cursor, limit, scope).execute();
    return rows.map((r) => ({ kind: r.kind as RecordKind, id: String(r.id), deletedAt: dbTimestampToIso(r.deleted_at) }));
  }

  async allTombstones(): Promise<Tombstone[]> {
    const rows = await this.db.selectFrom('sync_tombstones').select(['kind', 'id', 'deleted_at']).orderBy('kind').orderBy('id').execute();
    return rows.map((r) => ({ kind: r.kind as RecordKind, id: String(r.id), deletedAt: dbTimestampToIso(r.deleted_at) }));
  }

  // ---- reads by id ----

  async getAddresses(ids: string[]): Promise<StoredAddress[]> {
    const out: StoredAddress[] = [];
    for (const part of chunks([...new Set(ids)])) {
      if (!part.length) continue;
      const rows = (await this.db.selectFrom('sync_addresses').select(this.columns('sync_addresses') as never[]).where('id', 'in', part).orderBy('id').execute()) as AddressRow[];
      out.push(...(await this.hydrateAddresses(rows)));
    }
    return out;
  }

  async getActivities(ids: string[]): Promise<StoredActivity[]> {
    const out: StoredActivity[] = [];
    for (const part of chunks([...new Set(ids)])) {
      if (!part.length) continue;
      const rows = (await this.db.selectFrom('sync_activities').select(this.columns('sync_activities') as never[]).where('id', 'in', part).orderBy('id').execute()) as ActivityRow[];
      out.push(...(await this.hydrateActivities(rows)));
    }
    return out;
  }

  async allIds(view: 'sync_addresses' | 'sync_activities'): Promise<string[]> {
    const rows = await this.db.selectFrom(view).select('id').orderBy('id').execute();
    return rows.map((r) => String(r.id));
  }

  private async hydrateAddresses(rows: AddressRow[]): Promise<StoredAddress[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => String(r.id));
    const phones = await this.db.selectFrom('sync_phones').select(['address_id', 'position', 'number', 'remark'])
      .where('address_id', 'in', ids).orderBy('address_id').orderBy('position').execute();
    const tags = await this.db.selectFrom('sync_address_tags').select(['address_id', 'tag']).where('address_id', 'in', ids).orderBy('tag').execute();
    // Grouped once per page, in the order read (a filter per record made a page cost rows × phones).
    const phonesOf = groupBy(phones, (p) => String(p.address_id));
    const tagsOf = groupBy(tags, (t) => String(t.address_id));
    return rows.map((r) => ({
      id: String(r.id),
      company: r.company ?? '', salutation: r.salutation ?? '', title: r.title ?? '',
      firstName: r.first_name ?? '', lastName: r.last_name ?? '', street: r.street ?? '',
      postalCode: r.postal_code ?? '', city: r.city ?? '', country: r.country ?? '', fax: r.fax ?? '',
      email: r.email ?? '', note: r.note ?? '',
      phones: (phonesOf.get(String(r.id)) ?? []).map((p) => ({ number: p.number, remark: p.remark ?? '' })),
      private: flag(r.is_private),
      owner: r.owner_id === null || r.owner_id === undefined ? null : String(r.owner_id),
      tags: (tagsOf.get(String(r.id)) ?? []).map((t) => t.tag),
      version: String(r.version),
      updatedAt: dbTimestampToIso(r.updated_at),
      extra: parseExtra(r.extra),
    }));
  }

  private async hydrateActivities(rows: ActivityRow[]): Promise<StoredActivity[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => String(r.id));
    const tags = await this.db.selectFrom('sync_activity_tags').select(['activity_id', 'tag']).where('activity_id', 'in', ids).orderBy('tag').execute();
    const participants = await this.db.selectFrom('sync_participants').select(['activity_id', 'user_id']).where('activity_id', 'in', ids).orderBy('user_id').execute();
    const links = await this.db.selectFrom('sync_links').select(['activity_id', 'address_id']).where('activity_id', 'in', ids).orderBy('address_id').execute();
    const tagsOf = groupBy(tags, (t) => String(t.activity_id));
    const participantsOf = groupBy(participants, (p) => String(p.activity_id));
    const linksOf = groupBy(links, (l) => String(l.activity_id));
    return rows.map((r) => {
      const id = String(r.id);
      const allDay = flag(r.all_day);
      return {
        id,
        kind: r.kind as ActivityKind,
        type: r.type,
        subject: r.subject ?? '',
        start: dbCalendarValue(r.start_at, allDay),
        end: dbCalendarValue(r.end_at, allDay),
        allDay,
        timeZone: r.time_zone ?? null,
        due: dbCalendarValue(r.due_at, false),
        alarmMinutes: r.alarm_minutes === null || r.alarm_minutes === undefined ? null : Number(r.alarm_minutes),
        note: r.note ?? '',
        done: flag(r.is_done),
        private: flag(r.is_private),
        owner: r.owner_id === null || r.owner_id === undefined ? null : String(r.owner_id),
        participants: (participantsOf.get(id) ?? []).map((p) => String(p.user_id)),
        addresses: (linksOf.get(id) ?? []).map((l) => String(l.address_id)),
        tags: (tagsOf.get(id) ?? []).map((t) => t.tag),
        version: String(r.version),
        updatedAt: dbTimestampToIso(r.updated_at),
        extra: parseExtra(r.extra),
      };
    });
  }

  // ---- scope ----

  async scopeAddressIds(userId: string, tags: string[]): Promise<string[]> {
    if (!tags.length) return [];
    const rows = await this.db.selectFrom('sync_addresses as a')
      .innerJoin('sync_address_tags as t', 't.address_id', 'a.id')
      .select('a.id').distinct()
      .where('t.tag', 'in', tags)
      .where((eb) => eb.or([eb('a.is_private', '=', 0), eb('a.owner_id', '=', userId)]))
      .orderBy('a.id').execute();
    return rows.map((r) => String(r.id));
  }

  async scopeActivityIds(userId: string, tags: string[]): Promise<string[]> {
    if (!tags.length) return [];
    const rows = await this.db.selectFrom('sync_activities as a')
      .innerJoin('sync_activity_tags as t', 't.activity_id', 'a.id')
      .select('a.id').distinct()
      .where('t.tag', 'in', tags)
      .where((eb) => eb.or([eb('a.is_private', '=', 0), eb('a.owner_id', '=', userId)]))
      .orderBy('a.id').execute();
    return rows.map((r) => String(r.id));
  }

  // ---- writes ----

  private async clearTombstone(kind: RecordKind, id: string): Promise<void> {
    await this.db.deleteFrom('sync_tombstones').where('kind', '=', kind).where('id', '=', id).execute();
  }

  async insertAddress(id: string, d: AddressData): Promise<void> {
    await this.db.insertInto('sync_addresses').values({
      id, ...addressFields(d), version: 1, updated_at: this.nowExpr(),
      ...(this.hasExtra ? { extra: extraText(d.extra) } : {}),
    }).execute();
    await this.writePhones(id, d.phones);
    await this.writeAddressTags(id, d.tags);
    await this.clearTombstone('address', id);
  }

  /**
   * Writes the full address over the stored one. With expectedVersion the write happens only
   * when the stored version still matches (CrmVersionConflictError otherwise, nothing written).
   */
  async updateAddress(id: string, d: AddressData, before: StoredAddress, expectedVersion: string | null): Promise<void> {
    await this.bump('sync_addresses', 'address', id, expectedVersion, {
      ...addressFields(d), ...(this.hasExtra ? { extra: extraText(d.extra) } : {}),
    });
    await this.updatePhones(id, before.phones, d.phones);
    if (!sameSet(before.tags, d.tags)) {
      await this.db.deleteFrom('sync_address_tags').where('address_id', '=', id).execute();
      await this.writeAddressTags(id, d.tags);
    }
  }

  async insertActivity(id: string, d: ActivityData): Promise<void> {
    await this.db.insertInto('sync_activities').values({
      id, ...activityFields(d), version: 1, updated_at: this.nowExpr(),
      ...(this.hasExtra ? { extra: extraText(d.extra) } : {}),
    }).execute();
    await this.writeActivityChildren(id, d);
    await this.clearTombstone('activity', id);
  }

  async updateActivity(id: string, d: ActivityData, before: StoredActivity, expectedVersion: string | null): Promise<void> {
    await this.bump('sync_activities', 'activity', id, expectedVersion, {
      ...activityFields(d), ...(this.hasExtra ? { extra: extraText(d.extra) } : {}),
    });
    if (!sameSet(before.tags, d.tags)) {
      await this.db.deleteFrom('sync_activity_tags').where('activity_id', '=', id).execute();
      await this.writeList('sync_activity_tags', d.tags.map((tag) => ({ activity_id: id, tag })));
    }
    if (!sameSet(before.participants, d.participants)) {
      await this.db.deleteFrom('sync_participants').where('activity_id', '=', id).execute();
      await this.writeList('sync_participants', d.participants.map((user_id) => ({ activity_id: id, user_id })));
    }
    if (!sameSet(before.addresses, d.addresses)) {
      await this.db.deleteFrom('sync_links').where('activity_id', '=', id).execute();
      await this.writeList('sync_links', d.addresses.map((address_id) => ({ activity_id: id, address_id })));
    }
  }

  /** Removes one tag; a change of a tag row is a change of its record (version + updated_at). */
  async removeTag(kind: RecordKind, id: string, tag: string): Promise<void> {
    const result = kind === 'address'
      ? await this.db.deleteFrom('sync_address_tags').where('address_id', '=', id).where('tag', '=', tag).executeTakeFirst()
      : await this.db.deleteFrom('sync_activity_tags').where('activity_id', '=', id).where('tag', '=', tag).executeTakeFirst();
    if (Number(result.numDeletedRows) > 0) {
      await this.bump(kind === 'address' ? 'sync_addresses' : 'sync_activities', kind, id, null, {});
    }
  }

  /** Deletes a record with its rows and leaves a tombstone stamped with the database clock. */
  async deleteRecord(kind: RecordKind, id: string): Promise<void> {
    if (kind === 'address') {
      // D31: the activities linking the address lose that link (as a CRM's foreign key would
      // cascade) and get a new change stamp, so devices rebuild their [FFDATA] block (R16) and an
      // export never holds a link to a deleted record.
      const linking = await this.db.selectFrom('sync_links').select('activity_id').where('address_id', '=', id).execute();
      await this.db.deleteFrom('sync_links').where('address_id', '=', id).execute();
      for (const activity of new Set(linking.map((r) => String(r.activity_id)))) await this.bump('sync_activities', 'activity', activity, null, {});
      await this.db.deleteFrom('sync_phones').where('address_id', '=', id).execute();
      await this.db.deleteFrom('sync_address_tags').where('address_id', '=', id).execute();
      await this.db.deleteFrom('sync_addresses').where('id', '=', id).execute();
    } else {
      await this.db.deleteFrom('sync_activity_tags').where('activity_id', '=', id).execute();
      await this.db.deleteFrom('sync_participants').where('activity_id', '=', id).execute();
      await this.db.deleteFrom('sync_links').where('activity_id', '=', id).execute();
      await this.db.deleteFrom('sync_activities').where('id', '=', id).execute();
    }
    await this.clearTombstone(kind, id);
    await this.db.insertInto('sync_tombstones').values({ kind, id, deleted_at: this.nowExpr() }).execute();
  }

  /**
   * Records the tombstone of a record this CRM never held (an imported `deleted: true`), so that
   * an export imported into a fresh CRM exports the same tombstones (D31). An existing tombstone
   * is kept with its time.
   */
  async recordTombstone(kind: RecordKind, id: string): Promise<boolean> {
    const have = await this.db.selectFrom('sync_tombstones').select('id').where('kind', '=', kind).where('id', '=', id).executeTakeFirst();
    if (have) return false;
    await this.db.insertInto('sync_tombstones').values({ kind, id, deleted_at: this.nowExpr() }).execute();
    return true;
  }

  /** Bumps version and updated_at (and sets `fields`), guarded by expectedVersion when given. */
  async bump(
    view: 'sync_addresses' | 'sync_activities',
    kind: RecordKind,
    id: string,
    expectedVersion: string | null,
    fields: Record<string, unknown>,
  ): Promise<void> {
    if (expectedVersion !== null && !/^\d+$/.test(expectedVersion)) throw new CrmVersionConflictError(kind, id);
    let q = this.db.updateTable(view)
      .set({ ...(fields as object), version: sql`version + 1`, updated_at: this.nowExpr() })
      .where('id', '=', id);
    if (expectedVersion !== null) q = q.where('version', '=', Number(expectedVersion));
    const result = await q.executeTakeFirst();
    if (Number(result.numUpdatedRows) === 1) return;
    const exists = await this.db.selectFrom(view).select('id').where('id', '=', id).executeTakeFirst();
    if (!exists) throw new CrmNotFoundError(kind, id);
    throw new CrmVersionConflictError(kind, id);
  }

  /**
   * Rewrites only the positions whose number or remark changed, so a customer CRM keeps how it
   * stores the numbers nobody touched (e.g. split into country code, area code, number).
   */
  private async updatePhones(id: string, before: { number: string; remark: string }[], after: { number: string; remark: string }[]): Promise<void> {
    const changed: number[] = [];
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      const b = before[i];
      const a = after[i];
      if (!b || !a || b.number !== a.number || b.remark !== a.remark) changed.push(i + 1);
    }
    if (!changed.length) return;
    await this.db.deleteFrom('sync_phones').where('address_id', '=', id).where('position', 'in', changed).execute();
    await this.writeList('sync_phones', changed.filter((pos) => pos <= after.length).map((pos) => ({
      address_id: id, position: pos, number: after[pos - 1]!.number, remark: after[pos - 1]!.remark,
    })));
  }

  private async writePhones(id: string, phones: { number: string; remark: string }[]): Promise<void> {
    await this.writeList('sync_phones', phones.map((p, i) => ({ address_id: id, position: i + 1, number: p.number, remark: p.remark })));
  }

  private async writeAddressTags(id: string, tags: string[]): Promise<void> {
    await this.writeList('sync_address_tags', [...new Set(tags)].map((tag) => ({ address_id: id, tag })));
  }

  private async writeActivityChildren(id: string, d: ActivityData): Promise<void> {
    await this.writeList('sync_activity_tags', [...new Set(d.tags)].map((tag) => ({ activity_id: id, tag })));
    await this.writeList('sync_participants', [...new Set(d.participants)].map((user_id) => ({ activity_id: id, user_id })));
    await this.writeList('sync_links', [...new Set(d.addresses)].map((address_id) => ({ activity_id: id, address_id })));
  }

  private async writeList<T extends 'sync_phones' | 'sync_address_tags' | 'sync_activity_tags' | 'sync_participants' | 'sync_links'>(
    table: T,
    rows: CrmDatabase[T][],
  ): Promise<void> {
    for (const part of chunks(rows, 200)) {
      if (part.length) await this.db.insertInto(table).values(part as never).execute();
    }
  }
}

export function sameSet(a: string[], b: string[]): boolean {
  const sa = [...new Set(a)].sort();
  const sb = [...new Set(b)].sort();
  return sa.length === sb.length && sa.every((v, i) => v === sb[i]);
}

/** The rows of a list by key, each group in the list's order. */
function groupBy<T>(list: T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of list) {
    const k = key(item);
    const group = out.get(k);
    if (group) group.push(item);
    else out.set(k, [item]);
  }
  return out;
}
