// The rule scenarios (R1–R24) on SOGo: one server for the whole file, fresh users per scenario.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { skipReason, startServer, type TestServer } from '../helpers/mailbox-servers.js';
import { Scenario } from '../helpers/scenario.js';
import { defineRuleScenarios } from './rules.scenarios.js';

const skip = skipReason('sogo', 'rule scenarios');
if (skip) {
  describe.skip('rule scenarios on SOGo', () => {
    it(`skipped: ${skip}`, () => {});
  });
} else {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startServer('sogo', {});
    Scenario.useSharedServer(server);
  });
  afterAll(async () => {
    Scenario.useSharedServer(undefined);
    await server?.stop();
  });
  describe('rule scenarios on SOGo', () => defineRuleScenarios());
}
