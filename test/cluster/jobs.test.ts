// D82 D95: the cluster's job handler reads the holds of a fetched batch in one query, and a held
// mailbox whose settings did not change still ends without a sync (nothing sent to its server).
import { describe, expect, it } from 'vitest';
import { clusterJobHandler } from '../../src/cluster/jobs.js';
import type { ClusterHolds } from '../../src/cluster/holds.js';
import type { ServerSlots } from '../../src/cluster/server-slots.js';
import type { MailboxRunner } from '../../src/daemon/mailbox-runner.js';
import type { Config } from '../../src/config/schema.js';
import type { Logger } from '../../src/log/logger.js';

function setup(heldWith: Map<string, string>) {
  const calls = { get: 0, getMany: 0, runs: [] as string[], slots: 0 };
  const holds = {
    get: async (m: string) => (calls.get++, heldWith.get(m) ?? null),
    getMany: async (ms: string[]) => (calls.getMany++, new Map(ms.filter((m) => heldWith.has(m)).map((m) => [m, heldWith.get(m)!]))),
    release: async (m: string) => void heldWith.delete(m),
    hold: async (m: string, f: string) => void heldWith.set(m, f),
  } as unknown as ClusterHolds;
  const slots = { acquire: async () => (calls.slots++, { release: async () => undefined }) } as unknown as ServerSlots;
  const runner = { run: async (u: string) => (calls.runs.push(u), { kind: 'ok' as const }), fingerprint: async (m: { user: string }) => `fp-${m.user}` } as unknown as MailboxRunner;
  const mailboxes = Array.from({ length: 10 }, (_, i) => ({ user: `u${i}`, url: 'https://dav.example/' }));
  const config = () => ({ mailboxes, dav: { concurrency: 4 } }) as unknown as Config;
  const logger = { debug: () => undefined } as unknown as Logger;
  return { calls, handler: clusterJobHandler({ runner, holds, slots, logger, config }) };
}

describe('cluster job handler', () => {
  it('D95: one holds query for a fetched batch, none per job; D82: a held mailbox with unchanged settings is not synced', async () => {
    const { calls, handler } = setup(new Map([['u3', 'fp-u3'], ['u5', 'fp-old']]));
    const jobs = Array.from({ length: 10 }, (_, i) => ({ mailboxId: `u${i}`, reason: 'interval' }));
    await handler.fetched(jobs);
    const results = await Promise.all(jobs.map((j) => handler(j)));
    expect(calls.getMany).toBe(1);
    expect(calls.get).toBe(0);
    expect(results[3]).toEqual({ kind: 'hard' }); // held, settings unchanged: no sync, no slot
    expect(calls.runs).not.toContain('u3');
    expect(calls.runs).toContain('u5'); // held with other settings: released and synced
    expect(calls.runs).toHaveLength(9);
    expect(calls.slots).toBe(9);
    // A job that was not in a fetched batch (or a second job of one mailbox) asks for itself.
    await handler({ mailboxId: 'u3', reason: 'push' });
    expect(calls.get).toBe(1);
  });
});
