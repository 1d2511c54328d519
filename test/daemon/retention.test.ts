// Data retention: state of unassigned mailboxes goes; an assigned mailbox unused for
// retentionDays loses its sync bookkeeping but keeps its status (so `status` still says why).
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { purgeStaleState } from '../../src/daemon/retention.js';
import { openSqliteStateStore } from '../../src/sync/state/sqlite.js';
import { tempHome } from '../helpers/cli.js';

it('purges unassigned mailboxes and the bookkeeping of mailboxes unused for retentionDays', async () => {
  const home = tempHome();
  const state = await openSqliteStateStore(path.join(home, 'state.sqlite'));
  const now = new Date('2026-06-20T12:00:00Z');
  const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000).toISOString();
  const item = (user: string) => ({
    user, kind: 'address' as const, crmId: 'a1', collection: 'contacts' as const, href: `/${user}/a1.vcf`, etag: '"1"', crmVersion: '1', contentHash: 'h', fieldHashes: {}, reason: 'scope' as const, links: [],
  });
  for (const [user, last] of [['gone', 1], ['old', 11], ['fresh', 2]] as const) {
    await state.setStatus(user, { state: user === 'old' ? 'failed' : 'success', lastSuccess: daysAgo(last), lastError: user === 'old' ? 'server unreachable' : null });
    await state.apply(user, [{ op: 'item-put', item: item(user) }]);
  }
  const config = parseConfig({ daemon: { retentionDays: 10 }, mailboxes: ['old', 'fresh'].map((u) => ({ user: u, url: 'https://dav.example.de/', username: u })) }, 'test');
  expect(await purgeStaleState(state, config, undefined, now)).toEqual({ unassigned: ['gone'], unused: ['old'] });
  expect((await state.listStatuses()).map((s) => s.user)).toEqual(['fresh', 'old']);
  expect((await state.loadRecords('gone')).items).toEqual([]);
  expect((await state.loadRecords('old')).items).toEqual([]);
  expect(await state.getStatus('old')).toMatchObject({ state: 'failed', lastError: 'server unreachable' });
  expect((await state.loadRecords('fresh')).items).toHaveLength(1);
  await state.close();
  fs.rmSync(home, { recursive: true, force: true });
});
