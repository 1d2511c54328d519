// The rule scenarios (R1–R24) on Cyrus. Unlike SOGo (one server per file), each scenario starts
// its own Cyrus (≈0.3 s): on a long-running Cyrus 3.6.1, a PUT was seen refused with 403
// unique-scheduling-object-resource naming ANOTHER account's item with the same UID, at random
// and for good for that account (docs/servers.md, D43) — a server fault, not a rule.
import { afterAll, beforeAll, describe, it } from 'vitest';
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
}
