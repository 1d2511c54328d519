// Which mailboxes a CRM change concerns: those whose scope (tags, participation, privacy) now
// includes the record, and those that hold it from an earlier sync (it may have left their scope
// or been deleted). Over-approximating is safe (an extra sync finds nothing to do); missing one
// is not, so when in doubt a change goes to every mailbox that holds the record.
import type { Config } from '../config/schema.js';
import type { Activity, Address, CrmUser, RecordKind } from '../providers/crm/model.js';
import { effectiveSettings } from '../sync/engine.js';
import type { StateStore } from '../sync/state.js';

export interface ChangedRecord {
  kind: RecordKind;
  id: string;
  /** Present when the record still exists. */
  record?: Address | Activity;
}

export function affectedUsers(changes: ChangedRecord[], config: Config, users: CrmUser[], state: StateStore): Set<string> {
  const byId = new Map(users.map((u) => [u.id, u]));
  const out = new Set<string>();
  const holders = state.db.prepare('SELECT DISTINCT user FROM item WHERE kind = ? AND crm_id = ?').pluck();
  for (const c of changes) {
    for (const user of holders.all(c.kind, c.id) as string[]) out.add(user);
    if (!c.record) continue;
    for (const m of config.mailboxes) {
      const u = byId.get(m.user);
      if (!u || out.has(u.id)) continue;
      const s = effectiveSettings(config, m, u);
      const rec = c.record;
      if (rec.private && rec.owner !== u.id && !(c.kind === 'activity' && (rec as Activity).participants.includes(u.id))) continue;
      const tags = c.kind === 'address' ? s.addressTags : s.activityTags;
      const participates = c.kind === 'activity' && (rec as Activity).participants.includes(u.id);
      if (participates || rec.tags.some((t) => tags.includes(t))) out.add(u.id);
    }
  }
  return out;
}
