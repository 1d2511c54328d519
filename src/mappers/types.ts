import type { Address, AddressFields, ActivityFields, CrmUser } from '../providers/crm/model.js';
import type { PhoneSlot } from './phone-slots.js';

export interface MapperOptions {
  /** Loaded from config/phone-slots.json by loadPhoneSlots(path?). */
  phoneSlots: PhoneSlot[];
  /** Device subject, default '{type}: {subject}' (R15). */
  subjectFormat: string;
  /** vCard version of new contacts. */
  vcardVersion: '3.0' | '4.0';
  /** Key for the per-field hashes (HMAC), kept outside the state store (the engine's state.key). */
  hashKey?: string;
  /** PRODID written on new items and on items we patch. */
  prodId?: string;
  /** Zone for floating device times (no TZID, no Z); default UTC. */
  defaultTimeZone?: string;
  /** Labels of the [FFDATA] lines (R16); default German, as the CRM's users read it. */
  ffdataLabels?: { participant: string; address: string };
}

/** For the [FFDATA] block (R16). */
export interface FfdataContext {
  /** Participants by id. */
  users: Map<string, CrmUser>;
  /** Linked addresses by id (name, company, first phone). */
  addresses: Map<string, Address>;
}

export interface DeviceContact {
  uid: string;
  /**
   * CRM-owned fields as the device holds them. `phones`: positions 1..slots recovered from the
   * slot table, numbers only, remark ''; an empty slot is `{ number: '' }`; trailing empties cut.
   */
  fields: AddressFields;
  /** Category "private" (R13). */
  isPrivate: boolean;
  /** Device numbers that do not fit into the slots at all (device-only, R12, M12): they stay on the device. */
  unslottedPhones: string[];
  /** Version of the card as read (2.1 is converted to 3.0 when patched). */
  version: '2.1' | '3.0' | '4.0';
}

export interface DeviceActivity {
  uid: string;
  kind: 'appointment' | 'task';
  /** Subject without the type prefix, note cut at [FFDATA]. */
  fields: ActivityFields;
  /** CLASS:PRIVATE or CONFIDENTIAL (R19). */
  isPrivate: boolean;
  /** A series (D4): RRULE/RDATE, several components, or overrides without a master; the master is mapped. */
  recurring: boolean;
}
