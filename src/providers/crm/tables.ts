// The view contract (docs/crm-views.md) and the real tables of the embedded CRM that have the
// same shapes. One list of views and columns serves the contract check and the DDL.

export type SqlDialect = 'sqlite' | 'postgres' | 'mysql';

/** Every view of the contract with the columns the provider reads. `extra` is optional. */
export const VIEW_CONTRACT: Record<string, string[]> = {
  sync_users: ['id', 'login', 'name', 'email', 'user_tag', 'address_tags', 'activity_tags', 'import_appointment_type', 'import_task_type'],
  sync_addresses: [
    'id', 'company', 'salutation', 'title', 'first_name', 'last_name', 'street', 'postal_code', 'city',
    'country', 'fax', 'email', 'note', 'is_private', 'owner_id', 'version', 'updated_at',
  ],
  sync_phones: ['address_id', 'position', 'number', 'remark'],
  sync_address_tags: ['address_id', 'tag'],
  sync_activities: [
    'id', 'kind', 'type', 'subject', 'start_at', 'end_at', 'all_day', 'time_zone', 'due_at', 'alarm_minutes',
    'note', 'is_done', 'is_private', 'owner_id', 'version', 'updated_at',
  ],
  sync_activity_tags: ['activity_id', 'tag'],
  sync_participants: ['activity_id', 'user_id'],
  sync_links: ['activity_id', 'address_id'],
  sync_tombstones: ['kind', 'id', 'deleted_at'],
};

interface TypeMap {
  id: string;
  text: string;
  longText: string;
  flag: string;
  int: string;
  version: string;
  stamp: string;
  tail: string;
}

const TYPES: Record<SqlDialect, TypeMap> = {
  sqlite: { id: 'TEXT', text: 'TEXT', longText: 'TEXT', flag: 'INTEGER', int: 'INTEGER', version: 'INTEGER', stamp: 'TEXT', tail: '' },
  postgres: {
    id: 'text', text: 'text', longText: 'text', flag: 'smallint', int: 'integer', version: 'bigint',
    stamp: 'timestamp(3) with time zone', tail: '',
  },
  mysql: {
    id: 'VARCHAR(100)', text: 'VARCHAR(255)', longText: 'TEXT', flag: 'TINYINT', int: 'INT', version: 'BIGINT',
    stamp: 'DATETIME(3)', tail: ' DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
  },
};

/**
 * DDL of the embedded CRM's tables (same names and columns as the view contract, plus `extra`
 * for keys of the exchange file that sync-cli does not know). The indexes are the ones the
 * contract requires: change detection reads (updated_at, id) and (deleted_at, kind, id).
 */
export function crmTablesDdl(dialect: SqlDialect): string[] {
  const t = TYPES[dialect];
  const str = `${t.text} NOT NULL DEFAULT ''`;
  const long = `${t.longText} NOT NULL DEFAULT ''`;
  return [
    `CREATE TABLE sync_users (id ${t.id} PRIMARY KEY, login ${t.id} NOT NULL UNIQUE, name ${t.text} NOT NULL,
      email ${t.text}, user_tag ${t.id} NOT NULL UNIQUE, address_tags ${t.longText}, activity_tags ${t.longText},
      import_appointment_type ${t.text} NOT NULL, import_task_type ${t.text} NOT NULL, extra ${t.longText})${t.tail}`,
    `CREATE TABLE sync_addresses (id ${t.id} PRIMARY KEY, company ${str}, salutation ${str}, title ${str},
      first_name ${str}, last_name ${str}, street ${str}, postal_code ${str}, city ${str}, country ${str},
      fax ${str}, email ${str}, note ${long}, is_private ${t.flag} NOT NULL DEFAULT 0, owner_id ${t.id},
      version ${t.version} NOT NULL DEFAULT 1, updated_at ${t.stamp} NOT NULL, extra ${t.longText})${t.tail}`,
    `CREATE INDEX sync_addresses_change ON sync_addresses (updated_at, id)`,
    `CREATE TABLE sync_phones (address_id ${t.id} NOT NULL, position ${t.int} NOT NULL, number ${t.text} NOT NULL,
      remark ${str}, PRIMARY KEY (address_id, position))${t.tail}`,
    `CREATE TABLE sync_address_tags (address_id ${t.id} NOT NULL, tag ${t.id} NOT NULL,
      PRIMARY KEY (address_id, tag))${t.tail}`,
    `CREATE INDEX sync_address_tags_tag ON sync_address_tags (tag, address_id)`,
    `CREATE TABLE sync_activities (id ${t.id} PRIMARY KEY, kind ${t.id} NOT NULL, type ${t.text} NOT NULL,
      subject ${str}, start_at ${t.id}, end_at ${t.id}, all_day ${t.flag} NOT NULL DEFAULT 0, time_zone ${t.id},
      due_at ${t.id}, alarm_minutes ${t.int}, note ${long}, is_done ${t.flag} NOT NULL DEFAULT 0,
      is_private ${t.flag} NOT NULL DEFAULT 0, owner_id ${t.id}, version ${t.version} NOT NULL DEFAULT 1,
      updated_at ${t.stamp} NOT NULL, extra ${t.longText})${t.tail}`,
    `CREATE INDEX sync_activities_change ON sync_activities (updated_at, id)`,
    `CREATE TABLE sync_activity_tags (activity_id ${t.id} NOT NULL, tag ${t.id} NOT NULL,
      PRIMARY KEY (activity_id, tag))${t.tail}`,
    `CREATE INDEX sync_activity_tags_tag ON sync_activity_tags (tag, activity_id)`,
    `CREATE TABLE sync_participants (activity_id ${t.id} NOT NULL, user_id ${t.id} NOT NULL,
      PRIMARY KEY (activity_id, user_id))${t.tail}`,
    `CREATE TABLE sync_links (activity_id ${t.id} NOT NULL, address_id ${t.id} NOT NULL,
      PRIMARY KEY (activity_id, address_id))${t.tail}`,
    `CREATE INDEX sync_links_address ON sync_links (address_id, activity_id)`,
    `CREATE TABLE sync_tombstones (kind ${t.id} NOT NULL, id ${t.id} NOT NULL, deleted_at ${t.stamp} NOT NULL,
      PRIMARY KEY (kind, id))${t.tail}`,
    `CREATE INDEX sync_tombstones_change ON sync_tombstones (deleted_at, kind, id)`,
  ];
}
