// The executor: the only code that writes to the CRM, the mailbox and the state store. Each
// action is one remote write followed by one state transaction (R23): a crash in between
// repeats the action at the next sync instead of losing it. Per-item errors are collected and
// the other items go on (R22).
import pLimit from 'p-limit';
import { contentHash, type MapperOptions } from '../mappers/index.js';
import type { Activity, ActivityFields, Address, AddressFields, CrmProvider, NewActivity, NewAddress } from '../providers/crm/model.js';
import { DeadlineExceededError, PreconditionFailedError, UidConflictError } from '../providers/dav/errors.js';
import type { CollectionKind, CollectionRef, MailboxProvider } from '../providers/dav/types.js';
import { CrmVersionConflictError } from '../errors.js';
import { CONTENT_TYPE, crmFieldHashes, renderForDevice, type Action } from './plan.js';
import type { MailboxSnapshot } from './snapshot-types.js';
import type { StateStore } from './state.js';
import { failpoint, withSyncMarker } from './marker.js';
import { stopsTheMailbox } from './outcome.js';

export interface ExecuteCounts {
  created: number;
  updated: number;
  deleted: number;
  crmUpdates: number;
  conflicts: number;
  errors: { item: string; message: string }[];
  /** D30: device items left untouched that the user should look at (not failures). */
  attention: { item: string; message: string }[];
}

export interface ExecuteDeps {
  crm: CrmProvider;
  mailbox: MailboxProvider;
  state: StateStore;
  collections: Record<CollectionKind, CollectionRef>;
  mapper: MapperOptions;
  snapshot: MailboxSnapshot;
  concurrency: number;
  /** A lost race (412, CRM version conflict): re-read this item and return fresh actions. */
  replan?: (action: Action, err: Error) => Promise<Action[]>;
  onProgress?: (done: number, total: number) => void;
  /** End of the mailbox run (limits.mailboxRunSeconds): no action starts after it; the run stops. */
  deadline?: { at: number; seconds: number };
}

export function emptyCounts(): ExecuteCounts {
  return { created: 0, updated: 0, deleted: 0, crmUpdates: 0, conflicts: 0, errors: [], attention: [] };
}

function actionItem(a: Action): string {
  switch (a.type) {
    case 'device-create':
    case 'device-update':
    case 'device-delete':
    case 'crm-update':
    case 'crm-untag':
      return `${a.kind}:${a.crmId}`;
    case 'crm-create':
      return a.ref.href;
    case 'state-update':
      return `${a.item.kind}:${a.item.crmId}`;
    case 'state-forget':
      return `${a.kind}:${a.crmId}`;
    case 'foreign':
      return a.item.href;
    case 'foreign-forget':
      return a.href;
    case 'item-error':
      return a.key;
    case 'attention':
    case 'attention-clear':
      return a.href;
    case 'exclusion-end':
      return `${a.kind}:${a.crmId}`;
  }
}

export async function executePlan(actions: Action[], deps: ExecuteDeps): Promise<ExecuteCounts> {
  const counts = emptyCounts();
  const { crm, mailbox, state, snapshot } = deps;
  const user = snapshot.settings.userId;
  const limit = pLimit(deps.concurrency);
  let done = 0;

  // What each device create is about to write is the merge base if a crash cuts it short (R23):
  // recorded for all creates of the plan in one transaction before the first write. A record
  // whose create never ran is harmless: the next plan creates the item again and overwrites it.
  const pendingCreate = (a: Extract<Action, { type: 'device-create' }>) => state.setRetry(user, 'create', `${a.kind}:${a.crmId}`, JSON.stringify(a.item.fieldHashes));
  const prewritten = new Set<Action>(actions.filter((a) => a.type === 'device-create'));
  state.transaction(() => prewritten.forEach((a) => pendingCreate(a as Extract<Action, { type: 'device-create' }>)));

  const run = async (a: Action): Promise<void> => {
    switch (a.type) {
      case 'device-create': {
        if (!prewritten.has(a)) pendingCreate(a); // a create a lost race re-planned
        const ref = await mailbox.create(deps.collections[a.collection], `${a.name}.${a.collection === 'contacts' ? 'vcf' : 'ics'}`, a.data, CONTENT_TYPE[a.collection]);
        failpoint('after-device-create');
        // One transaction: the item and, settled by it, the pending create and an earlier failure.
        state.transaction(() => {
          state.upsertItem({ ...a.item, href: ref.href, etag: ref.etag, contentHash: contentHash(a.data) });
          state.clearRetry(user, 'crm', `${a.kind}:${a.crmId}`);
        });
        counts.created++;
        return;
      }
      case 'device-update': {
        const ref = await mailbox.update(a.ref, a.data, CONTENT_TYPE[a.item.collection]);
        state.transaction(() => {
          state.upsertItem({ ...a.item, href: ref.href, etag: ref.etag, contentHash: contentHash(a.data) });
          // An earlier failure of this item is settled (R22): the next syncs can be quiet again.
          state.clearRetry(user, 'device', a.ref.href);
          state.clearRetry(user, 'crm', `${a.kind}:${a.crmId}`);
        });
        counts.updated++;
        return;
      }
      case 'device-delete': {
        await mailbox.remove(a.ref);
        state.transaction(() => {
          state.deleteItem(user, a.kind, a.crmId);
          state.clearRetry(user, 'device', a.ref.href);
        });
        counts.deleted++;
        return;
      }
      case 'crm-update': {
        const rec: Address | Activity =
          a.kind === 'address'
            ? await crm.updateAddress(a.crmId, a.patch as Partial<AddressFields>, a.expectedVersion)
            : await crm.updateActivity(a.crmId, a.patch as Partial<ActivityFields>, a.expectedVersion);
        counts.crmUpdates++;
        failpoint('after-crm-update');
        let ref = a.ref;
        if (a.data !== null) {
          ref = await mailbox.update(a.ref, a.data, CONTENT_TYPE[a.item.collection]);
          counts.updated++;
        }
        state.transaction(() => {
          state.upsertItem({ ...a.item, crmVersion: rec.version, fieldHashes: crmFieldHashes(a.kind, rec, deps.mapper), href: ref.href, etag: ref.etag, contentHash: a.data ? contentHash(a.data) : '' });
          state.clearRetry(user, 'device', ref.href);
          state.clearRetry(user, 'crm', `${a.kind}:${a.crmId}`);
        });
        return;
      }
      case 'crm-untag': {
        await crm.removeTag(a.kind, a.crmId, a.tag);
        state.transaction(() => {
          state.addExclusion(user, a.kind, a.crmId, snapshot.now);
          state.deleteItem(user, a.kind, a.crmId);
        });
        counts.crmUpdates++;
        return;
      }
      case 'crm-create': {
        // Remembered first: a crash right after the CRM write is recovered, not imported twice (R23).
        state.setRetry(user, 'import', a.ref.href, 'import from the device in progress');
        const rec: Address | Activity =
          a.kind === 'address' ? await crm.createAddress(a.input as NewAddress) : await crm.createActivity(a.input as NewActivity);
        counts.crmUpdates++;
        failpoint('after-crm-create');
        // The device item gets what the CRM made of it (type prefix R15, [FFDATA] R16) and the
        // link to its CRM record (marker, R23).
        const data = withSyncMarker(renderForDevice(a.kind, rec, a.raw, snapshot, deps.mapper), a.kind, rec.id);
        const ref = await mailbox.update(a.ref, data, CONTENT_TYPE[a.collection]);
        counts.updated++; // the device item was rewritten: the user sees it change
        failpoint('after-device-update');
        state.transaction(() => {
          state.clearRetry(user, 'import', a.ref.href);
          state.upsertItem({
          user,
          kind: a.kind,
          crmId: rec.id,
          collection: a.collection,
          href: ref.href,
          etag: ref.etag,
          crmVersion: rec.version,
          contentHash: contentHash(data),
          fieldHashes: crmFieldHashes(a.kind, rec, deps.mapper),
          reason: 'scope',
          links: a.kind === 'activity' ? (rec as Activity).addresses : [],
          });
        });
        return;
      }
      case 'state-update':
        state.upsertItem(a.item);
        return;
      case 'state-forget':
        state.deleteItem(user, a.kind, a.crmId);
        return;
      case 'foreign':
        state.upsertForeign(a.item);
        return;
      case 'foreign-forget':
        state.deleteForeign(user, a.href);
        return;
      case 'item-error':
        state.setRetry(user, a.side, a.key, a.message);
        counts.errors.push({ item: a.key, message: a.message });
        return;
      case 'attention':
        state.setRetry(user, 'attention', a.href, JSON.stringify({ etag: a.etag, collection: a.collection, message: a.message }));
        counts.attention.push({ item: a.href, message: a.message });
        return;
      case 'attention-clear':
        state.clearRetry(user, 'attention', a.href);
        return;
      case 'exclusion-end':
        state.removeExclusion(user, a.kind, a.crmId);
        return;
    }
  };

  const attemptAction = async (a: Action, attempt: number): Promise<void> => {
    try {
      if (deps.deadline && Date.now() >= deps.deadline.at) throw new DeadlineExceededError(actionItem(a), 'limits.mailboxRunSeconds', deps.deadline.seconds);
      await run(a);
    } catch (err) {
      // The run is over, the server is gone, overloaded, asks us to come back later or refuses the
      // login: stop the mailbox with this one error instead of failing every other write (what is
      // done is kept; tokens do not move; the next sync goes on).
      if (stopsTheMailbox(err)) throw err;
      // A UID conflict that names the other item (Cyrus, R23) is replanned like a lost race: adopt it.
      const lostRace =
        err instanceof PreconditionFailedError || err instanceof CrmVersionConflictError || (err instanceof UidConflictError && err.existingHref !== undefined);
      if (lostRace && deps.replan && attempt < 2) {
        // R20: a lost race is retried from fresh data, never overwritten.
        for (const next of await deps.replan(a, err as Error)) await attemptAction(next, attempt + 1);
        return;
      }
      const item = actionItem(a);
      const message = (err as Error).message;
      counts.errors.push({ item, message });
      // Remembered so the next sync retries it even though tokens and watermarks move on (R22).
      if (a.type === 'crm-create' || a.type === 'foreign') state.setRetry(user, 'device', item, message);
      else if ('ref' in a && a.ref) {
        state.setRetry(user, 'device', a.ref.href, message);
        if ('crmId' in a) state.setRetry(user, 'crm', `${a.kind}:${a.crmId}`, message);
      } else if ('crmId' in a) state.setRetry(user, 'crm', item, message);
    }
  };

  // The first error that stops the mailbox: actions not started yet are skipped, the ones in
  // flight finish (their writes are recorded), then it is thrown — once.
  let stopped: { err: unknown } | undefined;
  await Promise.all(
    actions.map((a) =>
      limit(async () => {
        if (stopped) return;
        try {
          await attemptAction(a, 0);
        } catch (err) {
          stopped ??= { err };
          return;
        }
        done++;
        deps.onProgress?.(done, actions.length);
      }),
    ),
  );
  if (stopped) throw stopped.err;
  return counts;
}
