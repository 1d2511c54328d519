// The rule scenarios (R1–R24) on SOGo: one server for the whole file, fresh users per scenario.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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

  describe('SOGo accepts any sync token and counts ETags', () => {
    let sc: Scenario | undefined;
    afterEach(async () => {
      await sc?.stop();
      sc = undefined;
    });

    it('R6/R8: a deletion behind a lost token goes unseen until the periodic full comparison (sync.fullEveryHours) catches it', async () => {
      sc = await Scenario.create({ logins: ['mmueller'] });
      await sc.syncOk();
      const user = await sc.userId('mmueller');
      const dev = await sc.device('mmueller');
      const ev = (await dev.find('appointments', 'Besichtigung'))!;
      expect(await dev.remove(ev.href)).toBeLessThan(300);
      // The stored token no longer fits the server (restored from an older backup: the token is
      // "from the future"). SOGo never refuses a token: 207, nothing changed, the deletion unseen.
      await sc.withState(async (state) => {
        const head = await state.loadMailbox(user);
        // Probed once at the first sync and remembered: later syncs (no provisioning) still guard R20.
        expect(head.serverQuirks).toEqual({ ignoresIfNoneMatch: true, ignoresIfMatchOnDelete: true });
        await state.apply(user, [{ op: 'collection-put', kind: 'appointments', url: head.collections.appointments!.url, token: String(Math.floor(Date.now() / 1000) + 86_400) }]);
      });
      await sc.syncOk();
      expect((await sc.crm.getActivities(['t1']))[0]!.tags).toContain('MM'); // missed
      // A day later the periodic full comparison runs and sees the item gone (R8: tag removed).
      await sc.withState((st) => st.apply(user, [{ op: 'last-full-put', at: new Date(Date.now() - 25 * 3_600_000).toISOString() }]));
      await sc.syncOk();
      expect((await sc.crm.getActivities(['t1']))[0]!.tags).not.toContain('MM');
      const lastFull = await sc.withState(async (after) => (await after.loadMailbox(user)).lastFull);
      expect(Date.now() - Date.parse(lastFull!)).toBeLessThan(60_000);
    });

    it('R20: a device change to what the CRM does not own is noted once; later full comparisons (counter ETags: by content) see nothing new', async () => {
      sc = await Scenario.create({ logins: ['mmueller'] });
      await sc.syncOk();
      const dev = await sc.device('mmueller');
      const ev = (await dev.find('appointments', 'Besichtigung Hauptstraße 5'))!;
      expect(await dev.put(ev.href, ev.data.replace(/END:VEVENT/, 'LOCATION:Hauptstraße 5\r\nEND:VEVENT'), ev.etag)).toBeLessThan(300);
      const [first] = await sc.syncOk({ full: true });
      expect(first).toMatchObject({ created: 0, updated: 0, deleted: 0, crmUpdates: 0, errors: [] });
      for (let round = 0; round < 2; round++) {
        const [dry] = await sc.sync({ full: true, dryRun: true });
        expect(dry!.plan ?? [], `full comparison ${round + 1}`).toEqual([]);
        await sc.syncOk({ full: true });
      }
      expect((await dev.find('appointments', 'Besichtigung Hauptstraße 5'))!.data).toContain('LOCATION:Hauptstraße 5');
    });

    it('R14: an event deleted and created again at the same href (same ETag "gcs00000000" on SOGo) is compared by content in a full comparison', async () => {
      sc = await Scenario.create({ logins: ['mmueller'] });
      await sc.syncOk();
      const user = await sc.userId('mmueller');
      const dev = await sc.device('mmueller');
      const ev = (await dev.find('appointments', 'Besichtigung Hauptstraße 5'))!;
      expect(await dev.remove(ev.href)).toBeLessThan(300);
      const edited = ev.data.replace(/SUMMARY:[^\r\n]*(\r?\n [^\r\n]*)*/, 'SUMMARY:Termin extern: Besichtigung neu angelegt');
      expect(await dev.put(ev.href, edited)).toBeLessThan(300);
      const again = (await dev.find('appointments', 'neu angelegt'))!;
      expect(again.etag).toBe(ev.etag); // the counter starts over: the ETag alone says "unchanged"
      await sc.withState(async (st) => {
        const cols = (await st.loadMailbox(user)).collections;
        await st.apply(user, [
          { op: 'collection-put', kind: 'appointments', url: cols.appointments!.url, token: String(Math.floor(Date.now() / 1000) + 86_400) },
          { op: 'last-full-put', at: new Date(Date.now() - 25 * 3_600_000).toISOString() },
        ]);
      });
      await sc.syncOk();
      expect((await sc.crm.getActivities(['t1']))[0]!.subject).toBe('Besichtigung neu angelegt');
    });
  });
}
