// D105: the answers of device creates are settled in groups written by the answers themselves,
// so a slow server (Radicale answering a growing collection every 50–250 ms) costs about one
// state transaction per second of answers, not one per answer plus a timer wake-up each — and a
// group still reaches the state store within about a second when no further answer comes (R23:
// what a crash can cut off stays small; the pending creates cover it).
import { afterEach, expect, it } from 'vitest';
import type { MailboxConfig } from '../../src/config/schema.js';
import { openMailbox } from '../../src/providers/dav/index.js';
import type { MailboxProvider } from '../../src/providers/dav/types.js';
import type { StateChange, StateStore } from '../../src/sync/state/store.js';
import { Scenario } from '../helpers/scenario.js';
import { smallCrm } from '../helpers/small-crm.js';

let sc: Scenario | undefined;
afterEach(async () => {
  await sc?.stop();
  sc = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** smallCrm plus `n` more contacts of mmueller. */
function crmWith(n: number) {
  const doc = smallCrm();
  const base = doc.addresses[3]!;
  for (let i = 0; i < n; i++) doc.addresses.push({ ...base, id: `x${i}`, company: `Firma ${i}`, lastName: `Name${i}`, owner: 'u1', tags: ['MM'] });
  return doc;
}

/** The mailbox, each create answered only after `delay(i)` ms more (i: 0, 1, … in answer order). */
function slowCreates(delay: (i: number) => number, onAnswer?: (i: number) => Promise<void>) {
  let answered = 0;
  return (m: MailboxConfig, password: string): MailboxProvider => {
    const real = openMailbox({ url: m.url, username: m.username, password, auth: m.auth }, { timeoutMs: 10_000, retries: 1, concurrency: 1 });
    return new Proxy(real, {
      get(target, prop, receiver) {
        if (prop !== 'create') return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<MailboxProvider['create']>) => {
          const ref = await target.create(...args);
          const i = answered++;
          await sleep(delay(i));
          await onAnswer?.(i);
          return ref;
        };
      },
    });
  };
}

/** The state store, each `apply` with an agreed item recorded (its time and how many items). */
function recording(state: StateStore, groups: { at: number; items: number }[]): StateStore {
  return new Proxy(state, {
    get(target, prop, receiver) {
      if (prop !== 'apply') return Reflect.get(target, prop, receiver);
      return (user: string, changes: StateChange[]) => {
        const items = changes.filter((c) => c.op === 'item-put').length;
        if (items) groups.push({ at: Date.now(), items });
        return target.apply(user, changes);
      };
    },
  });
}

it('R23/D105: 30 device creates answered one at a time, 40 ms apart, are settled in at most three state transactions, and the next sync writes nothing', async () => {
  sc = await Scenario.create({ logins: ['mmueller'], exchange: crmWith(25), config: { concurrency: 1 } });
  const groups: { at: number; items: number }[] = [];
  const r = await sc.withState((state) => sc!.sync({}, { state: recording(state, groups), openMailbox: slowCreates(() => 40) }));
  expect(r[0]).toMatchObject({ state: 'success', errors: [] });
  const created = r[0]!.created;
  expect(created).toBeGreaterThanOrEqual(30);
  // Before D105 a group closed 50 ms after its first answer: one transaction per answer here.
  expect(groups.reduce((n, g) => n + g.items, 0)).toBe(created);
  expect(groups.length).toBeLessThanOrEqual(3);
  // Every answer was recorded: the next sync finds every item agreed and changes nothing.
  const again = await sc.syncOk();
  expect(again[0]).toMatchObject({ created: 0, updated: 0, deleted: 0, crmUpdates: 0 });
});

it('R23/D105: an answer is in the state store about a second later even when the next answer takes long', async () => {
  sc = await Scenario.create({ logins: ['mmueller'], config: { concurrency: 1 } });
  const groups: { at: number; items: number }[] = [];
  let firstAnswerAt = 0;
  let seenDuringSlowAnswer = -1;
  const open = slowCreates(
    (i) => (i === 1 ? 1800 : 0),
    async (i) => {
      if (i === 0) firstAnswerAt = Date.now();
      if (i === 1) seenDuringSlowAnswer = groups.reduce((n, g) => n + g.items, 0);
    },
  );
  const r = await sc.withState((state) => sc!.sync({}, { state: recording(state, groups), openMailbox: open }));
  expect(r[0]).toMatchObject({ state: 'success', errors: [] });
  // While the second answer was still out, the first had been written by the backstop timer.
  expect(seenDuringSlowAnswer).toBe(1);
  expect(groups[0]!.at - firstAnswerAt).toBeGreaterThanOrEqual(900);
  expect(groups[0]!.at - firstAnswerAt).toBeLessThan(1700);
});
