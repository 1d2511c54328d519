// doctor's judgement of what a mailbox answered (clock skew, moved collections, missing
// sync-token, missing password), with the connection replaced by a stand-in of our own
// MailboxConnection interface; the checks against a real Radicale are in cli.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MailboxConnection, ProvisionedCollections } from '../../src/assignments/index.js';
import { resolvePaths } from '../../src/config/paths.js';
import { configSchema } from '../../src/config/schema.js';
import { runDoctorChecks, type DoctorCheck } from '../../src/commands/doctor-checks.js';
import { storeMailboxPassword } from '../../src/secrets/index.js';
import { memoryCrm } from './fake-crm.js';

const collections = (supportsSyncToken: boolean): ProvisionedCollections => ({
  contacts: { kind: 'contacts', url: 'https://dav.example.com/anna/c/', displayName: 'CRM Kontakte', supportsSyncToken },
  appointments: { kind: 'appointments', url: 'https://dav.example.com/anna/t/', displayName: 'CRM Termine', supportsSyncToken },
  tasks: { kind: 'tasks', url: 'https://dav.example.com/anna/a/', displayName: 'CRM Aufgaben', supportsSyncToken },
});

async function doctor(answer: { skewMs: number; supportsSyncToken: boolean }, opts: { storePassword?: boolean; knownContacts?: string } = {}) {
  const paths = resolvePaths(fs.mkdtempSync(path.join(os.tmpdir(), 'sync-cli-doctor-')));
  const config = configSchema.parse({
    mailboxes: [{ user: 'u1', url: 'https://dav.example.com/', username: 'anna', credentialStore: 'file', ...(opts.knownContacts ? { collections: { contacts: opts.knownContacts } } : {}) }],
  });
  if (opts.storePassword !== false) await storeMailboxPassword(config.mailboxes[0]!, 'doctor-pw-1', paths);
  const connection: MailboxConnection = {
    provision: async () => collections(answer.supportsSyncToken),
    probe: async () => ({ principal: '/anna/', skewMs: answer.skewMs }),
    close: () => undefined,
  };
  const service: DoctorCheck = { id: 'service', status: 'info', title: 'service', detail: 'not installed' };
  return runDoctorChecks({ paths, config: () => config, crm: async () => memoryCrm(), connect: async () => connection, serviceState: async () => service });
}

const byId = (checks: DoctorCheck[], id: string) => checks.find((c) => c.id === id);

describe('doctor', () => {
  it('warns (without failing) about clock skew over 60 s, moved collections and missing sync-token', async () => {
    const checks = await doctor({ skewMs: -95_000, supportsSyncToken: false }, { knownContacts: 'https://dav.example.com/anna/old/' });
    expect(byId(checks, 'mailbox.clock')).toMatchObject({ status: 'warn', detail: expect.stringContaining('-95 s'), fix: expect.stringContaining('timedatectl') });
    expect(byId(checks, 'mailbox.collection.contacts')).toMatchObject({ status: 'warn', detail: expect.stringContaining('config has https://dav.example.com/anna/old/') });
    expect(byId(checks, 'mailbox.synctoken.tasks')).toMatchObject({ status: 'warn' });
    expect(checks.filter((c) => c.status === 'fail')).toEqual([]);
  });

  it('passes a clock within 60 s', async () => {
    const checks = await doctor({ skewMs: 59_000, supportsSyncToken: true });
    expect(byId(checks, 'mailbox.clock')?.status).toBe('ok');
    expect(checks.filter((c) => c.status !== 'ok' && c.status !== 'info')).toEqual([]);
  });

  it('fails a mailbox whose password is not in its store, with the command that fixes it', async () => {
    const checks = await doctor({ skewMs: 0, supportsSyncToken: true }, { storePassword: false });
    expect(byId(checks, 'mailbox.credential')).toMatchObject({ status: 'fail', fix: expect.stringContaining('sync-cli users assign u1') });
    expect(byId(checks, 'mailbox.auth')).toBeUndefined();
  });
});
