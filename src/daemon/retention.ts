// Data retention (issue 7 §7): the state of a mailbox that is no longer assigned is purged; the
// state of an assigned mailbox that has not synced successfully for daemon.retentionDays is
// dropped too (its status row and last error stay, so `status` still says why). Only sync
// bookkeeping is purged — ids, ETags, hashes; the next sync re-adopts items by UID (R23).
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { StateStore } from '../sync/state/store.js';

export async function purgeStaleState(state: StateStore, config: Config, logger?: Logger, now = new Date()): Promise<{ unassigned: string[]; unused: string[] }> {
  const assigned = new Set(config.mailboxes.map((m) => m.user));
  const olderThan = new Date(now.getTime() - config.daemon.retentionDays * 86_400_000).toISOString();
  const unassigned: string[] = [];
  const unused: string[] = [];
  for (const user of await state.staleUsers(assigned, olderThan)) {
    if (assigned.has(user)) {
      await state.apply(user, [{ op: 'reset' }]);
      unused.push(user);
    } else {
      await state.forget(user);
      unassigned.push(user);
    }
  }
  if (unassigned.length || unused.length) {
    logger?.info(
      `retention: purged the sync state of ${unassigned.length} unassigned and ${unused.length} unused (> ${config.daemon.retentionDays} days) mailbox(es)`,
      { unassigned, unused },
    );
  }
  return { unassigned, unused };
}
