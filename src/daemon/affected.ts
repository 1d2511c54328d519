// Which mailboxes a CRM change concerns: those whose scope (tags, participation, privacy) now
// includes the record, and those that hold it from an earlier sync (it may have left their scope
// or been deleted). Over-approximating is safe (an extra sync finds nothing to do); missing one
// is not, so when in doubt a change goes to every mailbox that holds the record.
import type { Config } from '../config/schema.js';
import type { Activity, Address, CrmUser, RecordKind } from '../providers/crm/model.js';
import { effectiveSettings } from '../sync/engine.js';
import { mayConcern, type ScopeSettings } from '../sync/scope.js';
import type { StateStore } from '../sync/state/store.js';

export interface ChangedRecord {
  kind: RecordKind;
  id: string;
  /** Present when the record still exists. */
  record?: Address | Activity;
}

export async function affectedUsers(changes: ChangedRecord[], config: Config, users: CrmUser[], state: StateStore): Promise<Set<string>> {
  // Every mailbox that holds one of the records, in one batched read.
  const out = await state.holders(changes.map((c) => ({ kind: c.kind, crmId: c.id })));
  const records = changes.filter((c): c is ChangedRecord & { record: Address | Activity } => c.record !== undefined);
  if (!records.length) return out;
  // The same scope predicate the planner uses (src/sync/scope.ts): participation alone does not
  // put an activity into a mailbox (R2), nor a private one into a non-owner's (R4). Asked per
  // record of the tags it carries — not per record per mailbox: a bulk change of every record
  // reaches thousands of mailboxes in one pass (each mailbox's settings computed once).
  const byId = new Map(users.map((u) => [u.id, u]));
  const byTag = { address: new Map<string, ScopeSettings[]>(), activity: new Map<string, ScopeSettings[]>() };
  const byUser = new Map<string, ScopeSettings[]>();
  for (const m of config.mailboxes) {
    const u = byId.get(m.user);
    if (!u) continue;
    const s = effectiveSettings(config, m, u);
    for (const [kind, tags] of [['address', s.addressTags], ['activity', s.activityTags]] as const) {
      for (const t of new Set(tags)) {
        const list = byTag[kind].get(t);
        if (list) list.push(s);
        else byTag[kind].set(t, [s]);
      }
    }
    const own = byUser.get(u.id);
    if (own) own.push(s);
    else byUser.set(u.id, [s]);
  }
  // A tag whose every mailbox is already in `out` needs no second look (a public record adds them all).
  const done = { address: new Set<string>(), activity: new Set<string>() };
  for (const c of records) {
    if (c.record.private) {
      // R4: only its owner's mailboxes can see it.
      const owner = c.record.owner;
      if (owner === null || out.has(owner)) continue;
      if ((byUser.get(owner) ?? []).some((s) => mayConcern(c.kind, c.record, s))) out.add(owner);
      continue;
    }
    for (const t of c.record.tags) {
      if (done[c.kind].has(t)) continue;
      for (const s of byTag[c.kind].get(t) ?? []) if (mayConcern(c.kind, c.record, s)) out.add(s.userId);
      done[c.kind].add(t);
    }
  }
  return out;
}
