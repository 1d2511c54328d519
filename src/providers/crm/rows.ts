// Row shapes of the view contract as Kysely sees them. Values are typed loosely where the
// dialects differ (flags: 0/1 or boolean; versions: number or bigint string; stamps: text).

type Flag = number | boolean;
type Version = number | string | bigint;

export interface UserRow {
  id: string;
  login: string;
  name: string;
  email: string | null;
  user_tag: string;
  address_tags: string | null;
  activity_tags: string | null;
  import_appointment_type: string;
  import_task_type: string;
  extra?: string | null;
}

export interface AddressRow {
  id: string;
  company: string | null;
  salutation: string | null;
  title: string | null;
  first_name: string | null;
  last_name: string | null;
  street: string | null;
  postal_code: string | null;
  city: string | null;
  country: string | null;
  fax: string | null;
  email: string | null;
  note: string | null;
  is_private: Flag;
  owner_id: string | null;
  version: Version;
  updated_at: string;
  extra?: string | null;
}

export interface PhoneRow {
  address_id: string;
  position: number;
  number: string;
  remark: string | null;
}

export interface AddressTagRow {
  address_id: string;
  tag: string;
}

export interface ActivityRow {
  id: string;
  kind: string;
  type: string;
  subject: string | null;
  start_at: string | null;
  end_at: string | null;
  all_day: Flag;
  time_zone: string | null;
  due_at: string | null;
  alarm_minutes: number | null;
  note: string | null;
  is_done: Flag;
  is_private: Flag;
  owner_id: string | null;
  version: Version;
  updated_at: string;
  extra?: string | null;
}

export interface ActivityTagRow {
  activity_id: string;
  tag: string;
}

export interface ParticipantRow {
  activity_id: string;
  user_id: string;
}

export interface LinkRow {
  activity_id: string;
  address_id: string;
}

export interface TombstoneRow {
  kind: string;
  id: string;
  deleted_at: string;
}

export interface CrmDatabase {
  sync_users: UserRow;
  sync_addresses: AddressRow;
  sync_phones: PhoneRow;
  sync_address_tags: AddressTagRow;
  sync_activities: ActivityRow;
  sync_activity_tags: ActivityTagRow;
  sync_participants: ParticipantRow;
  sync_links: LinkRow;
  sync_tombstones: TombstoneRow;
}
