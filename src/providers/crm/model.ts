// The CRM domain model as sync-cli sees it (shape of docs/exchange-format.md), and the
// CrmProvider contract the sync engine needs. Providers translate their storage into this.

export interface CrmUser {
  id: string;
  login: string;
  name: string;
  email?: string | null;
  /** The user's unique tag (Merkmal). Always part of addressTags and activityTags (R1, R2). */
  userTag: string;
  addressTags: string[];
  activityTags: string[];
  importAppointmentType: string;
  importTaskType: string;
}

export interface Phone {
  number: string;
  /** Belongs to the CRM; never changed by the sync (R12). */
  remark: string;
}

/** The fields of an address that the sync carries both ways (R11, R12). */
export interface AddressFields {
  company: string;
  salutation: string;
  title: string;
  firstName: string;
  lastName: string;
  street: string;
  postalCode: string;
  city: string;
  country: string;
  fax: string;
  email: string;
  note: string;
  /** Ordered: position 1 is phones[0]. */
  phones: Phone[];
}

export interface Address extends AddressFields {
  id: string;
  private: boolean;
  /** CRM user id of the owner (matters for private records, R4). */
  owner: string | null;
  tags: string[];
  /** Opaque version; changes with every write. Passed back as expectedVersion on updates. */
  version: string;
  /** Change timestamp (ISO 8601), set by the CRM on every write. */
  updatedAt: string;
}

export type ActivityKind = 'appointment' | 'task';

/** The fields of an activity that the sync carries both ways (R14–R18). */
export interface ActivityFields {
  subject: string;
  /** Appointments: ISO 8601 with offset for timed, `YYYY-MM-DD` for all-day (end exclusive). */
  start: string | null;
  end: string | null;
  allDay: boolean;
  /** IANA zone the appointment was entered in (e.g. Europe/Berlin); null = UTC/floating. */
  timeZone: string | null;
  /** Tasks: due date-time (ISO 8601) or date. */
  due: string | null;
  /** Minutes before start/due; null = no alarm. */
  alarmMinutes: number | null;
  note: string;
  done: boolean;
}

export interface Activity extends ActivityFields {
  id: string;
  kind: ActivityKind;
  /** Activity type, e.g. "Termin extern"; never changed from the device (R15). */
  type: string;
  private: boolean;
  owner: string | null;
  /** CRM user ids. */
  participants: string[];
  /** Linked address ids (R5, R16). */
  addresses: string[];
  tags: string[];
  version: string;
  updatedAt: string;
}

export type RecordKind = 'address' | 'activity';

export interface Tombstone {
  kind: RecordKind;
  id: string;
  deletedAt: string;
}

/**
 * Watermark of a change feed: the change timestamp and id of the last record read. Reads
 * return records with (updatedAt, id) > cursor, ordered by (updatedAt, id); the engine re-reads
 * from (cursor.ts - overlap) so that a record committed late with an older stamp is not missed.
 */
export interface CrmCursor {
  ts: string;
  id: string;
}

export interface ChangePage<T> {
  items: T[];
  /** Cursor after the last item of this page; null when the page is empty. */
  next: CrmCursor | null;
  /** True when more items may follow (the page was full). */
  more: boolean;
}

/** Who is asking for a scope: the user's tags and the user id (private records, R4). */
export interface ScopeQuery {
  userId: string;
  addressTags: string[];
  activityTags: string[];
}

/**
 * What one mailbox needs of a change feed (issue #16): records tagged with one of the user's tags
 * for the kind and visible to the user (R1, R2, R4 — `taggedFor` in src/sync/scope.ts), plus the
 * records the mailbox holds, whatever their tags now (they may have left the scope, R7/R8). An
 * over-approximation of what can change something in the mailbox, never less.
 */
export interface FeedScope {
  userId: string;
  /** The user's tags for this kind (addressTags or activityTags). */
  tags: string[];
  /** Ids of this kind the mailbox holds (state items); tombstones are filtered by these alone. */
  held: string[];
}

/** Tombstones concern a mailbox only when it holds the record. */
export interface TombstoneScope {
  held: { address: string[]; activity: string[] };
}

export interface ScopeIds {
  addresses: string[];
  activities: string[];
}

export type NewAddress = AddressFields & { private: boolean; owner: string | null; tags: string[] };
export type NewActivity = ActivityFields & {
  kind: ActivityKind;
  type: string;
  private: boolean;
  owner: string | null;
  participants: string[];
  addresses: string[];
  tags: string[];
};

export interface CrmProvider {
  readonly dialect: 'sqlite' | 'postgres' | 'mysql';
  /** A short description for messages (URL without credentials). */
  readonly description: string;
  close(): Promise<void>;
  /** The CRM's clock, used as the start of a sync (R6). ISO 8601. */
  now(): Promise<string>;

  listUsers(): Promise<CrmUser[]>;
  /** By id or login. */
  findUser(idOrLogin: string): Promise<CrmUser | null>;
  /** Every tag that exists in the CRM (for validation and the configure UI). */
  listTags(): Promise<string[]>;

  /**
   * Changes after the cursor, every user's — or, with `scope`, only those that may concern one
   * mailbox, filtered in the database. A scoped read's last page returns as `next` the feed's
   * high-water mark at the time of the read (not the last record that passed the filter), so the
   * watermark moves on even when nothing concerned the mailbox.
   */
  addressChangesSince(cursor: CrmCursor | null, limit: number, scope?: FeedScope): Promise<ChangePage<Address>>;
  activityChangesSince(cursor: CrmCursor | null, limit: number, scope?: FeedScope): Promise<ChangePage<Activity>>;
  tombstonesSince(cursor: CrmCursor | null, limit: number, scope?: TombstoneScope): Promise<ChangePage<Tombstone>>;
  /**
   * Whether any feed has anything after its cursor (every user's; a null cursor: anything at all).
   * Cheap (one index probe per feed): a sync asks this before it reads the records it holds for a
   * scoped read, so a no-change sync reads none of them.
   */
  hasChangesSince(from: { addresses: CrmCursor | null; activities: CrmCursor | null; tombstones: CrmCursor | null }): Promise<boolean>;
  /** Ids of everything in a user's scope by tags and privacy (R1, R2, R4); no time window. */
  scopeIds(query: ScopeQuery): Promise<ScopeIds>;

  getAddresses(ids: string[]): Promise<Address[]>;
  getActivities(ids: string[]): Promise<Activity[]>;

  createAddress(input: NewAddress): Promise<Address>;
  /** Throws CrmVersionConflictError when the record's version is not expectedVersion. */
  updateAddress(id: string, patch: Partial<AddressFields>, expectedVersion: string): Promise<Address>;
  createActivity(input: NewActivity): Promise<Activity>;
  updateActivity(id: string, patch: Partial<ActivityFields>, expectedVersion: string): Promise<Activity>;
  /** Removes one tag (R7, R8). A no-op when the tag is not there. */
  removeTag(kind: RecordKind, id: string, tag: string): Promise<void>;
  /** Sets the done flag of an activity (R17, R18). */
  setDone(id: string, done: boolean, expectedVersion: string): Promise<Activity>;
}
