// D66 (#16): the daemon reads the CRM's user list once per interval, not before every mailbox
// sync; a user it does not know yet and a config reload make it read again.
import { describe, expect, it } from 'vitest';
import { CrmUsersCache } from '../../src/daemon/crm-users.js';
import type { CrmProvider, CrmUser } from '../../src/providers/crm/model.js';

function countingCrm(users: CrmUser[]): { crm: CrmProvider; reads: () => number; fail: (on: boolean) => void } {
  let reads = 0;
  let failing = false;
  const crm = {
    listUsers: async () => {
      reads++;
      if (failing) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      return users.map((u) => ({ ...u }));
    },
  } as unknown as CrmProvider;
  return { crm, reads: () => reads, fail: (on) => (failing = on) };
}

const user = (id: string, login: string) => ({ id, login, name: login, userTag: login.toUpperCase(), addressTags: [], activityTags: [] }) as unknown as CrmUser;

describe('D66: CrmUsersCache', () => {
  it('1,000 mailbox syncs within one interval read the user list once; after the interval once more', async () => {
    const all = Array.from({ length: 1000 }, (_, i) => user(`u${i}`, `user${i}`));
    const { crm, reads } = countingCrm(all);
    let now = 0;
    const cache = new CrmUsersCache(crm, () => 300_000, () => now);
    await cache.refresh();
    for (const u of all) expect((await cache.find(u.id))?.login).toBe(u.login);
    expect(reads()).toBe(1);
    now += 300_000;
    await cache.find('u1');
    expect(reads()).toBe(2);
  });

  it('a user the list does not hold yet makes one fresh read; a CRM that cannot be read keeps the last list', async () => {
    const all = [user('u1', 'mmueller')];
    const { crm, reads, fail } = countingCrm(all);
    let now = 0;
    const cache = new CrmUsersCache(crm, () => 1000, () => now);
    await cache.refresh();
    all.push(user('u2', 'sschmidt')); // added in the CRM since
    expect((await cache.find('u2'))?.login).toBe('sschmidt');
    expect(reads()).toBe(2);
    fail(true);
    now += 5000;
    expect(await cache.current()).toHaveLength(2); // stale but usable
    await expect(cache.find('u9')).rejects.toThrow(/ECONNREFUSED/);
    expect(cache.loginOf('u2')).toBe('sschmidt');
    expect(cache.loginOf('u9')).toBe('u9');
  });
});
