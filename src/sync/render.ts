// What the state holds after a write answered, and what the device gets after an import: pure
// functions of the planned action and the remote answer (a new ETag, the CRM's record), so the
// executor computes nothing itself — it passes answers through these and writes the result.
import { contentHash, type MapperOptions } from '../mappers/index.js';
import type { Activity, Address } from '../providers/crm/model.js';
import type { ItemRef } from '../providers/dav/types.js';
import { withSyncMarker } from './marker.js';
import { crmFieldHashes, renderForDevice, type Action, type ItemBase } from './plan.js';
import type { MailboxSnapshot } from './snapshot-types.js';
import type { ItemState } from './state/store.js';

type CrmUpdate = Extract<Action, { type: 'crm-update' }>;
type CrmCreate = Extract<Action, { type: 'crm-create' }>;

/** A device create or update answered with `ref`: the item as both sides now agree. */
export function stateAfterDeviceWrite(item: ItemBase, ref: ItemRef, data: string): ItemState {
  return { ...item, href: ref.href, etag: ref.etag, contentHash: contentHash(data) };
}

/** A CRM update answered with `rec` (its new version), the device item then at `ref`. */
export function stateAfterCrmUpdate(a: CrmUpdate, rec: Address | Activity, ref: ItemRef, mapper: MapperOptions): ItemState {
  return { ...a.item, crmVersion: rec.version, fieldHashes: crmFieldHashes(a.kind, rec, mapper), href: ref.href, etag: ref.etag, contentHash: a.data ? contentHash(a.data) : (a.deviceHash ?? '') };
}

/** The device item after its import: what the CRM made of it (type prefix R15, [FFDATA] R16) and
 *  the link to its CRM record (marker, R23). */
export function deviceDataAfterImport(a: CrmCreate, rec: Address | Activity, snapshot: Pick<MailboxSnapshot, 'ffdata'>, mapper: MapperOptions): string {
  return withSyncMarker(renderForDevice(a.kind, rec, a.raw, snapshot, mapper), a.kind, rec.id);
}

/** An imported device item rewritten at `ref` with `data`: the item as both sides now agree. */
export function stateAfterImport(user: string, a: CrmCreate, rec: Address | Activity, ref: ItemRef, data: string, mapper: MapperOptions): ItemState {
  return {
    user,
    kind: a.kind,
    crmId: rec.id,
    collection: a.collection,
    href: ref.href,
    etag: ref.etag,
    crmVersion: rec.version,
    contentHash: contentHash(data),
    fieldHashes: crmFieldHashes(a.kind, rec, mapper),
    reason: 'scope',
    links: a.kind === 'activity' ? (rec as Activity).addresses : [],
  };
}
