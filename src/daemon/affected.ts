// Which mailboxes a CRM change concerns: those whose scope (tags, participation, privacy) now
// includes the record, and those that hold it from an earlier sync (it may have left their scope
// or been deleted). Over-approximating is safe (an extra sync finds nothing to do); missing one
// is not, so when in doubt a change goes to every mailbox that holds the record.
import type { Config } from '../config/schema.js';
import type { Activity, Address, CrmUser, RecordKind } from '../providers/crm/model.js';
import { effectiveSettings } from '../sync/engine.js';
import { mayConcern } from '../sync/scope.js';
import type { StateStore } from '../sync/state/store.js';

export interface ChangedRecord {
  kind: RecordKind;
  id: string;
  /** Present when the record still exists. */
  record?: Address | Activity;
}

export async function affectedUsers(changes: ChangedRecord[], config: Config, users: CrmUser[], state: StateStore): Promise<Set<string>> {
  const byId = new Map(users.map((u) => [u.id, u]));
  // Every mailbox that holds one of the records, in one batched read.
  const out = await state.holders(changes.map((c) => ({ kind: c.kind, crmId: c.id })));
  for (const c of changes) {
    if (!c.record) continue;
    for (const m of config.mailboxes) {
      const u = byId.get(m.user);
      if (!u || out.has(u.id)) continue;
      // The same scope predicate the planner uses (src/sync/scope.ts): participation alone does
      // not put an activity into a mailbox (R2), nor a private one into a non-owner's (R4).
      if (mayConcern(c.kind, c.record, effectiveSettings(config, m, u))) out.add(u.id);
    }
  }
  return out;
}
