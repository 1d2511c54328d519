// Scheduler timing with real (short) timers and a fake sync: concurrency bound, backoff with
// its next run reported, pushes coalesced and re-run after a running sync, config changes.
import { describe, expect, it } from 'vitest';
import { backoffSeconds, staggerOffsetSeconds } from '../../src/daemon/backoff.js';
import { Scheduler, type SchedulerOptions } from '../../src/daemon/scheduler.js';
import type { MailboxOutcome } from '../../src/sync/outcome.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ok: MailboxOutcome = { kind: 'ok' };
const soft = (retryAfterMs?: number): MailboxOutcome => ({ kind: 'soft', message: 'down', retryAfterMs });

/** A started scheduler over mailboxes a–e with a fake sync (retries after 1 s, backoff capped at 10 s). */
function startFive(o: { concurrency: number; staggerSeconds: number; intervalSeconds: number; runMailbox: (user: string) => Promise<MailboxOutcome> }): Scheduler {
  const s = new Scheduler({ concurrency: o.concurrency, retrySeconds: 1, maxBackoffSeconds: 10, staggerSeconds: o.staggerSeconds, runMailbox: o.runMailbox });
  s.setMailboxes(['a', 'b', 'c', 'd', 'e'].map((u) => ({ user: u, login: u, intervalSeconds: o.intervalSeconds })));
  s.start();
  return s;
}

/** A started cluster leader's scheduler (runBatch, never runMailbox) over `users`, each every `intervalSeconds`. */
function startLeader(users: string[], intervalSeconds: number, o: Partial<SchedulerOptions> & Pick<SchedulerOptions, 'runBatch' | 'staggerSeconds'>): Scheduler {
  const s = new Scheduler({ concurrency: 32, retrySeconds: 1, maxBackoffSeconds: 10, runMailbox: () => Promise.reject(new Error('runMailbox must not be called with runBatch')), ...o });
  s.setMailboxes(users.map((u) => ({ user: u, login: u, intervalSeconds })));
  s.start();
  return s;
}

describe('backoff', () => {
  it('doubles per failure, stays within [exp/2, exp] and never passes the cap', () => {
    expect(backoffSeconds(1, 30, 3600, () => 0)).toBe(15);
    expect(backoffSeconds(1, 30, 3600, () => 1)).toBe(30);
    expect(backoffSeconds(3, 30, 3600, () => 1)).toBe(120);
    expect(backoffSeconds(20, 30, 3600, () => 1)).toBe(3600);
    expect(backoffSeconds(20, 30, 3600, () => 0)).toBe(1800);
    for (let f = 1; f < 30; f++) expect(backoffSeconds(f, 30, 600)).toBeLessThanOrEqual(600);
  });

  it('staggers first runs evenly over the window', () => {
    expect([0, 1, 2, 3].map((i) => staggerOffsetSeconds(i, 4, 60))).toEqual([0, 15, 30, 45]);
    expect(staggerOffsetSeconds(0, 1, 60)).toBe(0);
  });
});

describe('Scheduler', () => {
  it('never runs more mailboxes at once than the concurrency allows, and runs each again after its interval', async () => {
    let now = 0;
    let max = 0;
    const runs: string[] = [];
    const s = startFive({
      concurrency: 2,
      staggerSeconds: 0,
      intervalSeconds: 0.3,
      runMailbox: async (u) => {
        now++;
        max = Math.max(max, now);
        runs.push(u);
        await sleep(40);
        now--;
        return ok;
      },
    });
    await sleep(500);
    await s.stop(1000);
    expect(max).toBe(2);
    for (const u of ['a', 'b', 'c', 'd', 'e']) expect(runs.filter((r) => r === u).length).toBeGreaterThanOrEqual(2);
  });

  it('D101: mailboxes due within a moment of a running burst start with it (at most a tenth of their interval early), not one at a time', async () => {
    const started = new Map<string, number[]>();
    const t0 = Date.now();
    const s = startFive({
      concurrency: 4,
      // Five mailboxes staggered over 2 s: first runs at 0, 0.4, 0.8, 1.2, 1.6 s.
      staggerSeconds: 2,
      // A 4 s interval: a window of 400 ms (a tenth of it; the cap is 1 s).
      intervalSeconds: 4,
      runMailbox: async (u) => {
        started.set(u, [...(started.get(u) ?? []), Date.now() - t0]);
        await sleep(30);
        return ok;
      },
    });
    await sleep(6_500);
    await s.stop(1000);
    const runs = [...started.values()];
    for (const times of runs) {
      expect(times.length).toBeGreaterThanOrEqual(2);
      // Never sooner than the interval minus the window after its previous start.
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(4_000 - 400 - 50);
    }
    // The runs come in fewer bursts than runs: starts within 50 ms of another count as one burst.
    const all = runs.flat().sort((x, y) => x - y);
    const bursts = all.filter((t, i) => i === 0 || t - all[i - 1]! > 50).length;
    expect(bursts).toBeLessThanOrEqual(Math.ceil(all.length * 0.7));
  });

  it('D95: a cluster leader hands every due mailbox over in one call per tick, with its reason; a failed hand-over is retried', async () => {
    const calls: { user: string; reason: string }[][] = [];
    let fail = true;
    const next = new Map<string, Date | null>();
    const users = Array.from({ length: 50 }, (_, i) => `m${i}`);
    const s = startLeader(users, 60, {
      retrySeconds: 0.05,
      maxBackoffSeconds: 0.1,
      staggerSeconds: 0,
      runBatch: async (due) => {
        calls.push(due);
        if (fail) {
          fail = false;
          throw new Error('queue away');
        }
      },
      onNextRun: (u, at) => next.set(u, at),
      random: () => 1, // the same backoff for all: they come due together again
    });
    await sleep(300);
    await s.stop(1000);
    // The first hand-over failed (all 50 retried after a backoff), the second took all 50 at once.
    expect(calls.map((c) => c.length)).toEqual([50, 50]);
    expect(new Set(calls[1]!.map((c) => c.user))).toEqual(new Set(users));
    expect(new Set(calls[0]!.map((c) => c.reason))).toEqual(new Set(['start']));
    // Then each is due after its interval, as after a run.
    expect(Math.min(...[...next.values()].map((d) => d!.getTime())) - Date.now()).toBeGreaterThan(55_000);
  });

  it('D101: a cluster leader hands mailboxes due within a moment over together (at most a tenth of their interval early)', async () => {
    const t0 = Date.now();
    const calls: { at: number; users: string[] }[] = [];
    // Five mailboxes staggered over 2 s (first due at 0, 0.4, 0.8, 1.2, 1.6 s), a 4 s interval:
    // a window of 400 ms.
    const s = startLeader(['a', 'b', 'c', 'd', 'e'], 4, {
      staggerSeconds: 2,
      runBatch: async (due) => {
        calls.push({ at: Date.now() - t0, users: due.map((d) => d.user) });
      },
    });
    await sleep(6_500);
    await s.stop(1000);
    const handed = calls.flatMap((c) => c.users.map((u) => ({ u, at: c.at })));
    for (const u of ['a', 'b', 'c', 'd', 'e']) {
      const times = handed.filter((h) => h.u === u).map((h) => h.at);
      expect(times.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(4_000 - 400 - 50);
    }
    // Fewer hand-overs than mailboxes handed over: some calls carry more than one.
    expect(calls.length).toBeLessThanOrEqual(Math.ceil(handed.length * 0.7));
    expect(Math.max(...calls.map((c) => c.users.length))).toBeGreaterThanOrEqual(2);
  });

  /** One slot, every mailbox due at once (a backlog), each run `ms` long; the order runs start in. */
  function backlog(users: string[], ms: number): { s: Scheduler; order: string[] } {
    const order: string[] = [];
    const s = new Scheduler({ concurrency: 1, retrySeconds: 1, maxBackoffSeconds: 10, staggerSeconds: 0, runMailbox: (u) => (order.push(u), sleep(ms).then(() => ok)) });
    s.setMailboxes(users.map((u) => ({ user: u, login: u, intervalSeconds: 60 })));
    s.start();
    return { s, order };
  }

  it('D103: a pushed mailbox starts before interval runs that are overdue (a CRM edit does not wait for a backlog)', async () => {
    const { s, order } = backlog(['a', 'b', 'c', 'd', 'e', 'f'], 80);
    await sleep(20); // a runs; b–f wait, overdue
    expect(s.trigger(['f'], 'crm-feed')).toEqual(['f']);
    await sleep(700);
    await s.stop(1000);
    // f (pushed, its debounce long past when a ends) goes right after a, before the overdue b–e.
    expect(order).toEqual(['a', 'f', 'b', 'c', 'd', 'e']);
  });

  it('D103: a push that arrives while its mailbox runs re-runs it right after, ahead of the backlog', async () => {
    const { s, order } = backlog(['a', 'b', 'c', 'd'], 100);
    await sleep(20);
    s.trigger(['a'], 'webhook'); // a is running
    await sleep(600);
    await s.stop(1000);
    expect(order).toEqual(['a', 'a', 'b', 'c', 'd']);
  });

  it('R22: a soft failure is retried with growing delays and reports each next run; success resets', async () => {
    const outcomes: MailboxOutcome[] = [soft(), soft(), ok];
    const times: number[] = [];
    const next: { at: number; failures: number }[] = [];
    const s = new Scheduler({
      concurrency: 1,
      retrySeconds: 0.1,
      maxBackoffSeconds: 10,
      staggerSeconds: 0,
      random: () => 1,
      runMailbox: async () => {
        times.push(Date.now());
        return outcomes.shift() ?? ok;
      },
      onNextRun: (_u, at, failures) => next.push({ at: at!.getTime(), failures }),
    });
    s.setMailboxes([{ user: 'a', login: 'a', intervalSeconds: 60 }]);
    s.start();
    await sleep(600);
    await s.stop(100);
    expect(times.length).toBe(3);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(90); // 0.1 s
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(190); // 0.2 s
    expect(next.map((n) => n.failures)).toEqual([0, 1, 2, 0]);
    expect(next.at(-1)!.at - times[2]!).toBeGreaterThan(59_000); // back to the interval
  });

  it('a push during a running sync runs that mailbox once more right after; pushes for others start at once', async () => {
    const runs: string[] = [];
    const s = new Scheduler({
      concurrency: 4,
      retrySeconds: 1,
      maxBackoffSeconds: 10,
      staggerSeconds: 0,
      runMailbox: async (u, reason) => {
        runs.push(`${u}:${reason}`);
        await sleep(100);
        return ok;
      },
    });
    s.setMailboxes([
      { user: 'a', login: 'a', intervalSeconds: 60 },
      { user: 'b', login: 'b', intervalSeconds: 60 },
    ]);
    s.start();
    await sleep(30);
    s.trigger(['a', 'a', 'zz'], 'push'); // a is running; zz is unknown and ignored
    await sleep(400);
    s.trigger(['b'], 'push');
    await sleep(250);
    await s.stop(500);
    expect(runs.filter((r) => r.startsWith('a:'))).toEqual(['a:start', 'a:push']);
    expect(runs.filter((r) => r.startsWith('b:'))).toEqual(['b:start', 'b:push']);
  });

  it('an unassigned mailbox is dropped and a new one starts', async () => {
    const runs: string[] = [];
    const s = new Scheduler({ concurrency: 2, retrySeconds: 1, maxBackoffSeconds: 10, staggerSeconds: 0, runMailbox: async (u) => (runs.push(u), ok) });
    s.setMailboxes([{ user: 'a', login: 'a', intervalSeconds: 0.1 }]);
    s.start();
    await sleep(50);
    expect(s.setMailboxes([{ user: 'b', login: 'b', intervalSeconds: 60 }])).toEqual({ added: ['b'], removed: ['a'] });
    const before = runs.filter((r) => r === 'a').length;
    await sleep(300);
    await s.stop(100);
    expect(runs.filter((r) => r === 'a').length).toBe(before);
    expect(runs).toContain('b');
  });

  it('stop() reports a sync that outlives the grace time', async () => {
    const s = new Scheduler({ concurrency: 1, retrySeconds: 1, maxBackoffSeconds: 10, staggerSeconds: 0, runMailbox: () => sleep(1000).then(() => ok) });
    s.setMailboxes([{ user: 'a', login: 'a', intervalSeconds: 60 }]);
    s.start();
    await sleep(20);
    expect(await s.stop(50)).toBe(false);
  });

  it("D63: a soft failure with the server's Retry-After is tried again no sooner than it asked, even when the backoff is shorter", async () => {
    const next: (Date | null)[] = [];
    const s = new Scheduler({
      concurrency: 1,
      retrySeconds: 0.01,
      maxBackoffSeconds: 1,
      staggerSeconds: 0,
      runMailbox: async () => soft(30_000),
      onNextRun: (_u, at) => next.push(at),
    });
    s.setMailboxes([{ user: 'a', login: 'a', intervalSeconds: 60 }]);
    const t0 = Date.now();
    s.start();
    await sleep(100);
    s.trigger(['a'], 'push'); // a push does not jump the server's delay either
    await sleep(100);
    await s.stop(100);
    expect(next).toHaveLength(2); // the start, then one run: nothing retried within 30 s
    expect(next[1]!.getTime() - t0).toBeGreaterThanOrEqual(30_000);
    expect(s.snapshot()[0]!.dueAt.getTime() - t0).toBeGreaterThanOrEqual(30_000);
  });

  it('D63: a hard failure is held — no retry, pushes ignored, next run null — until its settings change; busy is retried soon without counting a failure', async () => {
    const outcomes: MailboxOutcome[] = [{ kind: 'hard', reason: 'auth', message: 'the server rejected the credentials', remedy: 'check the password', exitCode: 2 }, ok];
    const runs: string[] = [];
    const next: (Date | null)[] = [];
    let changed = false;
    const checks: string[] = [];
    const s = new Scheduler({
      concurrency: 1,
      retrySeconds: 0.01,
      maxBackoffSeconds: 0.05,
      staggerSeconds: 0,
      runMailbox: async (u, reason) => (runs.push(`${u}:${reason}`), outcomes.shift() ?? ok),
      changedSinceHold: async (u) => (checks.push(u), changed),
      onNextRun: (_u, at) => next.push(at),
    });
    s.setMailboxes([{ user: 'a', login: 'a', intervalSeconds: 0.1 }]);
    s.start();
    await sleep(350); // several intervals: each a cheap check only
    expect(runs).toEqual(['a:start']);
    expect(next.at(-1)).toBeNull();
    expect(s.snapshot()[0]).toMatchObject({ held: true, failures: 1 });
    expect(checks.length).toBeGreaterThanOrEqual(2);
    expect(s.trigger(['a'], 'push')).toEqual([]);
    expect(s.rearm(['a'], 'config.json changed')).toEqual(['a']); // checked at once: still unchanged
    await sleep(50);
    expect(runs).toEqual(['a:start']);
    changed = true;
    await sleep(200);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(s.snapshot()[0]).toMatchObject({ held: false, failures: 0 });
    expect(next.at(-1)).not.toBeNull();
    await s.stop(100);

    const busy = new Scheduler({ concurrency: 1, retrySeconds: 0.01, maxBackoffSeconds: 0.05, staggerSeconds: 0, runMailbox: async () => ({ kind: 'busy', message: 'locked', pid: 1 }) });
    busy.setMailboxes([{ user: 'b', login: 'b', intervalSeconds: 60 }]);
    const t0 = Date.now();
    busy.start();
    await sleep(50);
    await busy.stop(100);
    const [b] = busy.snapshot();
    expect(b!.failures).toBe(0);
    expect(b!.dueAt.getTime() - t0).toBeGreaterThanOrEqual(4000); // soon, but not a hot loop
    expect(b!.dueAt.getTime() - t0).toBeLessThan(10_000);
  });
});
