// The executor: the only code that writes to the CRM, the mailbox and the item state. Each action
// is one remote write followed by its state change (R23): a crash in between repeats the action
// at the next sync instead of losing it. What a state change holds is computed by the planner's
// pure functions (render.ts) from the action and the remote answer; nothing is rendered here.
// Per-item errors are collected and the other items go on (R22).
//
// Batching (D59, D105): the answers of device creates and the state-only actions are settled in
// groups (SETTLE_EVERY answers, or the first answer that comes SETTLE_MS after the group's first;
// a timer only when no answer follows), one `apply` each. R23 still holds:
// every create of the plan is recorded as a pending create (with its merge base) in one
// transaction before the first write, so a create whose answer was not settled yet is adopted by
// UID at the next sync, exactly like one whose state write a crash cut off.
import pLimit from 'p-limit';
import type { MapperOptions } from '../mappers/index.js';
import type { Activity, ActivityFields, Address, AddressFields, CrmProvider, NewActivity, NewAddress } from '../providers/crm/model.js';
import { DeadlineExceededError, PreconditionFailedError, UidConflictError } from '../providers/dav/errors.js';
import type { CollectionKind, CollectionRef, MailboxProvider } from '../providers/dav/types.js';
import { CrmVersionConflictError } from '../errors.js';
import { CONTENT_TYPE, type Action } from './plan.js';
import { deviceDataAfterImport, stateAfterCrmUpdate, stateAfterDeviceWrite, stateAfterImport } from './render.js';
import type { MailboxSnapshot } from './snapshot-types.js';
import { parseRecordKey, type ItemState, type RecordRef, type StateChange, type StateStore } from './state/store.js';
import { failpoint } from './marker.js';
import { stopsTheMailbox } from './outcome.js';

/**
 * Answers settled per `apply`, and how long a group stays open (D105). A group is written by the
 * answer that fills it or that arrives SETTLE_MS after its first one — in the same wake-up, so a
 * slow server (Radicale answers a growing collection every 50–250 ms) costs one transaction per
 * second, not one per answer plus a timer wake-up each. The timer is the backstop for a group
 * whose next answer never comes; `flush` ends every run.
 */
const SETTLE_EVERY = 100;
const SETTLE_MS = 1000;

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
  /** Aborted when the mailbox's lease is lost (D93): no action starts after it; the run stops with its reason. */
  stop?: AbortSignal;
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

const ref = (kind: RecordRef['kind'], crmId: string): RecordRef => ({ kind, crmId });

/** An agreed item, and what it settles: its pending create and the device-only row at its href. */
function itemAgreed(item: ItemState): StateChange[] {
  return [
    { op: 'item-put', item },
    { op: 'create-settled', ref: ref(item.kind, item.crmId) },
    { op: 'device-only-delete', href: item.href },
  ];
}

/** A failure remembered so the next sync retries it though tokens and watermarks move on (R22). */
function failure(side: 'device' | 'crm', key: string, message: string): StateChange {
  return side === 'crm' && /^(address|activity):/.test(key) ? { op: 'record-failed', ref: parseRecordKey(key), message } : { op: 'item-failed', href: key, message };
}

function failureOf(a: Action, message: string): StateChange[] {
  if (a.type === 'crm-create' || a.type === 'foreign') return [{ op: 'item-failed', href: actionItem(a), message }];
  if ('ref' in a && a.ref) return [{ op: 'item-failed', href: a.ref.href, message }, ...('crmId' in a ? [{ op: 'record-failed' as const, ref: ref(a.kind, a.crmId), message }] : [])];
  if ('crmId' in a) return [{ op: 'record-failed', ref: ref(a.kind, a.crmId), message }];
  return [];
}

/** State changes waiting to be applied as one group. */
class SettleQueue {
  private changes: StateChange[] = [];
  private answers = 0;
  private openedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private failed: unknown;

  constructor(
    private readonly state: StateStore,
    private readonly user: string,
  ) {}

  add(changes: StateChange[]): void {
    this.changes.push(...changes);
    const now = Date.now();
    if (this.answers++ === 0) this.openedAt = now;
    if (this.answers >= SETTLE_EVERY || now - this.openedAt >= SETTLE_MS) void this.write();
    else this.timer ??= setTimeout(() => void this.write(), SETTLE_MS);
  }

  private write(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const group = this.changes;
    this.changes = [];
    this.answers = 0;
    if (group.some((c) => c.op === 'item-put')) failpoint('before-settle-group');
    this.writing = this.writing.then(() => (group.length ? this.state.apply(this.user, group) : undefined)).catch((err: unknown) => {
      this.failed ??= err;
    });
    return this.writing;
  }

  /** Applies what is queued, after any group still being written; throws if any group failed. */
  async flush(): Promise<void> {
    await this.write();
    if (this.failed !== undefined) throw this.failed;
  }
}

export async function executePlan(actions: Action[], deps: ExecuteDeps): Promise<ExecuteCounts> {
  const counts = emptyCounts();
  const { crm, mailbox, state, snapshot } = deps;
  const user = snapshot.settings.userId;
  const limit = pLimit(deps.concurrency);
  const settle = new SettleQueue(state, user);
  let done = 0;

  // What each device create is about to write is the merge base if a crash cuts it short (R23):
  // recorded for all creates of the plan in one transaction before the first write. A record
  // whose create never ran is harmless: the next plan creates the item again and overwrites it.
  type Create = Extract<Action, { type: 'device-create' }>;
  const pendingCreate = (a: Create): StateChange => ({ op: 'create-pending', ref: ref(a.kind, a.crmId), fieldHashes: a.item.fieldHashes });
  const prewritten = new Set<Action>(actions.filter((a) => a.type === 'device-create'));
  await state.apply(user, [...prewritten].map((a) => pendingCreate(a as Create)));

  const run = async (a: Action): Promise<void> => {
    switch (a.type) {
      case 'device-create': {
        if (!prewritten.has(a)) await state.apply(user, [pendingCreate(a)]); // a create a lost race re-planned
        const answer = await mailbox.create(deps.collections[a.collection], `${a.name}.${a.collection === 'contacts' ? 'vcf' : 'ics'}`, a.data, CONTENT_TYPE[a.collection]);
        failpoint('after-device-create');
        // The item and, settled by it, the pending create and an earlier failure — in the next group.
        // (No device-only row can sit at a href this create just made: If-None-Match refuses that.)
        const item = stateAfterDeviceWrite(a.item, answer, a.data);
        settle.add([{ op: 'item-put', item }, { op: 'create-settled', ref: ref(a.kind, a.crmId) }, { op: 'record-settled', ref: ref(a.kind, a.crmId) }]);
        counts.created++;
        return;
      }
      case 'device-update': {
        const answer = await mailbox.update(a.ref, a.data, CONTENT_TYPE[a.item.collection]);
        // An earlier failure of this item is settled (R22): the next syncs can be quiet again.
        await state.apply(user, [...itemAgreed(stateAfterDeviceWrite(a.item, answer, a.data)), { op: 'item-settled', href: a.ref.href }, { op: 'record-settled', ref: ref(a.kind, a.crmId) }]);
        counts.updated++;
        return;
      }
      case 'device-delete': {
        await mailbox.remove(a.ref);
        await state.apply(user, [{ op: 'item-delete', ref: ref(a.kind, a.crmId) }, { op: 'item-settled', href: a.ref.href }]);
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
        let at = a.ref;
        if (a.data !== null) {
          at = await mailbox.update(a.ref, a.data, CONTENT_TYPE[a.item.collection]);
          counts.updated++;
        }
        await state.apply(user, [...itemAgreed(stateAfterCrmUpdate(a, rec, at, deps.mapper)), { op: 'item-settled', href: at.href }, { op: 'record-settled', ref: ref(a.kind, a.crmId) }]);
        return;
      }
      case 'crm-untag': {
        await crm.removeTag(a.kind, a.crmId, a.tag);
        await state.apply(user, [{ op: 'exclusion-put', ref: ref(a.kind, a.crmId), since: snapshot.now }, { op: 'item-delete', ref: ref(a.kind, a.crmId) }]);
        counts.crmUpdates++;
        return;
      }
      case 'crm-create': {
        // Remembered first: a crash right after the CRM write is recovered, not imported twice (R23).
        await state.apply(user, [{ op: 'import-pending', href: a.ref.href }]);
        const rec: Address | Activity = a.kind === 'address' ? await crm.createAddress(a.input as NewAddress) : await crm.createActivity(a.input as NewActivity);
        counts.crmUpdates++;
        failpoint('after-crm-create');
        const data = deviceDataAfterImport(a, rec, snapshot, deps.mapper);
        const answer = await mailbox.update(a.ref, data, CONTENT_TYPE[a.collection]);
        counts.updated++; // the device item was rewritten: the user sees it change
        failpoint('after-device-update');
        await state.apply(user, [{ op: 'import-settled', href: a.ref.href }, ...itemAgreed(stateAfterImport(user, a, rec, answer, data, deps.mapper))]);
        return;
      }
      // State only (no remote write): settled with the next group.
      case 'state-update':
        settle.add(itemAgreed(a.item));
        return;
      case 'state-forget':
        settle.add([{ op: 'item-delete', ref: ref(a.kind, a.crmId) }]);
        return;
      case 'foreign':
        settle.add([{ op: 'device-only-put', item: a.item }]);
        return;
      case 'foreign-forget':
        settle.add([{ op: 'device-only-delete', href: a.href }]);
        return;
      case 'item-error':
        settle.add([failure(a.side, a.key, a.message)]);
        counts.errors.push({ item: a.key, message: a.message });
        return;
      case 'attention':
        settle.add([{ op: 'attention-put', item: { href: a.href, etag: a.etag, collection: a.collection, message: a.message } }]);
        counts.attention.push({ item: a.href, message: a.message });
        return;
      case 'attention-clear':
        settle.add([{ op: 'attention-delete', href: a.href }]);
        return;
      case 'exclusion-end':
        settle.add([{ op: 'exclusion-delete', ref: ref(a.kind, a.crmId) }]);
        return;
    }
  };

  const attemptAction = async (a: Action, attempt: number): Promise<void> => {
    try {
      if (deps.deadline && Date.now() >= deps.deadline.at) throw new DeadlineExceededError(actionItem(a), 'limits.mailboxRunSeconds', deps.deadline.seconds);
      deps.stop?.throwIfAborted();
      await run(a);
    } catch (err) {
      // The run is over, the server is gone, overloaded, asks us to come back later or refuses the
      // login, or the lease is lost: stop the mailbox with this one error instead of failing every
      // other write (what is done is kept; tokens do not move; the next sync goes on).
      if (stopsTheMailbox(err) || deps.stop?.aborted) throw err;
      // A UID conflict that names the other item (Cyrus, R23) is replanned like a lost race: adopt it.
      const lostRace = err instanceof PreconditionFailedError || err instanceof CrmVersionConflictError || (err instanceof UidConflictError && err.existingHref !== undefined);
      if (lostRace && deps.replan && attempt < 2) {
        // R20: a lost race is retried from fresh data, never overwritten (and planned on settled state).
        await settle.flush();
        for (const next of await deps.replan(a, err as Error)) await attemptAction(next, attempt + 1);
        return;
      }
      const message = (err as Error).message;
      counts.errors.push({ item: actionItem(a), message });
      settle.add(failureOf(a, message));
    }
  };

  // The first error that stops the mailbox: actions not started yet are skipped, the ones in
  // flight finish (their writes are recorded), then it is thrown — once.
  let stop: unknown;
  await Promise.all(
    actions.map((a) =>
      limit(async () => {
        if (stop !== undefined) return;
        try {
          await attemptAction(a, 0);
        } catch (err) {
          stop ??= err;
          return;
        }
        done++;
        deps.onProgress?.(done, actions.length);
      }),
    ),
  );
  // Every answer received is settled before the run goes on (or stops).
  await settle.flush();
  if (stop !== undefined) throw stop;
  return counts;
}
