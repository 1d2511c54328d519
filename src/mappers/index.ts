// The mappers: CRM address ↔ vCard, appointment ↔ VEVENT, task ↔ VTODO, normalize + hash
// (R10–R19, R20 hashes, R23 stable UIDs). See docs/mappers.md for the decisions behind them.
export type { MapperOptions, FfdataContext, DeviceContact, DeviceActivity } from './types.js';
export { MappingError } from './errors.js';
export { type PhoneSlot, loadPhoneSlots, DEFAULT_PHONE_SLOTS_PATH } from './phone-slots.js';
export { addressToVCard, patchVCard, vCardToAddress, mergeDevicePhones } from './vcard.js';
export {
  activityToICal,
  patchICal,
  iCalToActivity,
  deviceSubject,
  stripSubjectPrefix,
  buildDescription,
  cutAtFfdata,
  ffdataLines,
  FFDATA_MARKER,
  DEFAULT_PRODID,
} from './ical.js';
export { contentHash, addressFieldHashes, activityFieldHashes, normalizeText, ADDRESS_HASH_KEYS } from './hash.js';
export { stableUid, crmIdFromUid } from './uid.js';
export { MAX_ITEM_BYTES } from './content-lines.js';
