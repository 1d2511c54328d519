// The rule scenarios (R1–R24) on Cyrus. Unlike SOGo (one server per file), each scenario starts
// its own Cyrus (≈0.3 s): on a long-running Cyrus 3.6.1, a PUT was seen refused with 403
// unique-scheduling-object-resource naming ANOTHER account's item with the same UID, at random
// and for good for that account (docs/servers.md, D43) — a server fault, not a rule.
import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { skipReason, startServer } from '../helpers/mailbox-servers.js';
import { Scenario } from '../helpers/scenario.js';
import { defineRuleScenarios } from './rules.scenarios.js';

const skip = skipReason('cyrus', 'rule scenarios');
if (skip) {
  describe.skip('rule scenarios on Cyrus', () => {
    it(`skipped: ${skip}`, () => {});
  });
} else {
  beforeAll(() => Scenario.useFreshServer((users) => startServer('cyrus', users)));
  afterAll(() => Scenario.useFreshServer(undefined));
  describe('rule scenarios on Cyrus', () => defineRuleScenarios());

  describe('Cyrus keeps a UID once per account', () => {
    let sc: Scenario | undefined;
    afterEach(async () => {
      await sc?.stop();
      sc = undefined;
    });

    it('R23: a re-provisioned mailbox (state lost, new calendar name) moves its appointments into the new calendar instead of failing each one', async () => {
      sc = await Scenario.create({ logins: ['mmueller'] });
      await sc.syncOk();
      const old = await sc.device('mmueller');
      const before = (await old.list('appointments')).map((i) => /^UID:(.*)$/m.exec(i.data)?.[1]?.trim()).sort();
      expect(before.length).toBeGreaterThan(0);
      for (const f of fs.readdirSync(sc.home)) if (f.startsWith('state.sqlite')) fs.rmSync(`${sc.home}/${f}`);
      sc.setConfig((c) => (c.sync.collectionNames.appointments = 'CRM Termine 2'));
      const [r] = await sc.syncOk(); // 403 unique-scheduling-object-resource naming the old calendar's item, per item
      expect(r!.errors).toEqual([]);
      const now = await sc.device('mmueller');
      expect(now.collections.appointments).not.toBe(old.collections.appointments);
      const after = (await now.list('appointments')).map((i) => /^UID:(.*)$/m.exec(i.data)?.[1]?.trim()).sort();
      expect(after).toEqual(before);
      expect(await old.list('appointments')).toEqual([]); // moved, not copied: one per UID
    });
  });
}
