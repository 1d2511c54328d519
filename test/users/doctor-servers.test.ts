// `doctor` and `users assign` against the real servers whose quirks lower a guarantee (SOGo)
// and one that has none of them (Cyrus): what they report is measured, not assumed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignMailbox, davConnector, type AdminDeps } from '../../src/assignments/index.js';
import { runDoctorChecks, type DoctorCheck } from '../../src/commands/doctor-checks.js';
import { loadConfig, saveConfig } from '../../src/config/load.js';
import { resolvePaths } from '../../src/config/paths.js';
import type { Config } from '../../src/config/schema.js';
import { skipReason, startServer, type ServerKind, type TestServer } from '../helpers/mailbox-servers.js';
import { memoryCrm } from './fake-crm.js';

const homes: string[] = [];
afterAll(() => {
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
});

function deps(): AdminDeps {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sync-cli-doctor-srv-'));
  homes.push(home);
  const paths = resolvePaths(home);
  return {
    paths,
    crm: async () => memoryCrm(),
    config: () => loadConfig(paths.configFile),
    saveConfig: (c: Config) => saveConfig(paths.configFile, c),
    connect: davConnector,
    defaultStore: async () => 'file',
  };
}

const byId = (checks: DoctorCheck[], id: string) => checks.find((c) => c.id === id);

for (const kind of ['sogo', 'cyrus'] as ServerKind[]) {
  const skip = skipReason(kind, 'doctor');
  describe.skipIf(Boolean(skip))(`doctor and users assign on ${kind}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startServer(kind, { anna: 'anna-doctor-pw' });
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('users assign warns when a server quirk lowers a guarantee (and only then)', async () => {
      const d = deps();
      const result = await assignMailbox(d, { user: 'anna', url: server.url + '/', username: 'anna', password: 'anna-doctor-pw' }, { verify: true });
      const warnings = result.warnings ?? [];
      if (kind === 'sogo') {
        expect(warnings.some((w) => w.includes('If-None-Match') && w.includes('If-Match on DELETE'))).toBe(true);
        expect(warnings.some((w) => w.includes('unknown sync token') && w.includes('every 24 h'))).toBe(true);
      } else expect(warnings).toEqual([]);
      expect(warnings.join(' ')).not.toContain('anna-doctor-pw');

      const checks = await runDoctorChecks({ ...d, config: d.config, serviceState: async () => ({ id: 'service', status: 'info', title: 'service', detail: 'not installed' }) });
      expect(checks.filter((c) => c.status === 'fail')).toEqual([]);
      expect(byId(checks, 'mailbox.server')?.detail).toMatch(kind === 'cyrus' ? /Cyrus/ : /Apache/);
      for (const k of ['contacts', 'appointments', 'tasks']) expect(byId(checks, `mailbox.name.${k}`)).toBeUndefined(); // names stick
      if (kind === 'sogo') {
        expect(byId(checks, 'mailbox.conditional')).toMatchObject({ status: 'warn', fix: expect.any(String) });
        expect(byId(checks, 'mailbox.synctoken.refusal')).toMatchObject({ status: 'warn', detail: expect.stringContaining('sync.fullEveryHours') });
      } else {
        expect(byId(checks, 'mailbox.conditional')?.status).toBe('ok');
        expect(byId(checks, 'mailbox.synctoken.refusal')?.status).toBe('ok');
      }
      console.log(`doctor on ${kind}: ${checks.filter((c) => c.id.startsWith('mailbox.')).map((c) => `${c.id}=${c.status}`).join(', ')}; server: ${byId(checks, 'mailbox.server')?.detail}`);
    });
  });
}
