// The vdir is meant to be read by the tools people already use (vdirsyncer, khard, khal): prove
// it by syncing our folder to Radicale with the real vdirsyncer and back. Plus what is specific
// to a folder: hrefs outside the root are refused, metadata files are not items.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMailbox, openVdirMailbox, type CollectionKind, type MailboxProvider } from '../../src/providers/dav/index.js';
import { VdirError } from '../../src/providers/vdir/index.js';
import { startRadicale, type RadicaleServer } from '../helpers/servers.js';

const NAMES: Record<CollectionKind, string> = { contacts: 'CRM Kontakte', appointments: 'CRM Termine', tasks: 'CRM Aufgaben' };
const vcard = (uid: string, fn: string) => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:${fn}\r\nN:${fn};;;;\r\nEND:VCARD\r\n`;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'sync-cli-vdirtest-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('vdir specifics', () => {
  it('refuses hrefs outside its root and does not list metadata files as items', async () => {
    const vdir = openVdirMailbox(join(tmp, 'own'));
    const cols = await vdir.provision(NAMES);
    writeFileSync(join(cols.contacts.url, 'color'), '#ff0000\n');
    const ref = await vdir.create(cols.contacts, 'x.vcf', vcard('x', 'X'), 'text/vcard');
    const delta = await vdir.delta(cols.contacts, null);
    expect(delta.changed.map((c) => c.href)).toEqual([ref.href]);
    await expect(vdir.update({ href: join(tmp, 'elsewhere.vcf'), etag: '"x"' }, 'data', 'text/vcard')).rejects.toBeInstanceOf(VdirError);
    await expect(vdir.update({ href: join(cols.contacts.url, '../../escape.vcf'), etag: '"x"' }, 'data', 'text/vcard')).rejects.toBeInstanceOf(VdirError);
  });
});

describe('interoperability with vdirsyncer 0.19 and Radicale', () => {
  let radicale: RadicaleServer;
  let dav: MailboxProvider;
  beforeAll(async () => {
    radicale = await startRadicale({ users: { vera: 'vera-pw-123' } });
    dav = openMailbox({ url: radicale.url, username: 'vera', password: 'vera-pw-123', auth: 'basic' }, { timeoutMs: 10_000, retries: 1, concurrency: 2 });
  });
  afterAll(async () => {
    await dav?.close();
    await radicale?.stop();
  });

  it('vdirsyncer uploads our vdir to the server and downloads server items our vdir reads', async () => {
    const vdir = openVdirMailbox(join(tmp, 'mailbox'));
    const local = await vdir.provision(NAMES);
    const remote = await dav.provision(NAMES);
    await vdir.create(local.contacts, 'from-vdir.vcf', vcard('from-vdir', 'Vera Vdir Ä'), 'text/vcard');
    await dav.create(remote.contacts, 'from-server.vcf', vcard('from-server', 'Sven Server'), 'text/vcard; charset=utf-8');

    const statusDir = join(tmp, 'status');
    mkdirSync(statusDir, { recursive: true });
    const config = join(tmp, 'vdirsyncer.conf');
    writeFileSync(
      config,
      [
        '[general]',
        `status_path = "${statusDir}"`,
        '[pair contacts]',
        'a = "local"',
        'b = "remote"',
        'collections = null',
        'conflict_resolution = "a wins"',
        '[storage local]',
        'type = "filesystem"',
        `path = "${local.contacts.url}"`,
        'fileext = ".vcf"',
        '[storage remote]',
        'type = "carddav"',
        `url = "${remote.contacts.url}"`,
        'username = "vera"',
        'password = "vera-pw-123"',
        '',
      ].join('\n'),
    );
    for (const cmd of ['discover', 'sync']) {
      const run = spawnSync('vdirsyncer', ['-c', config, cmd], { encoding: 'utf8', timeout: 30_000, input: '' });
      expect(run.status, `vdirsyncer ${cmd}: ${run.stderr}${run.stdout}`).toBe(0);
    }

    const onServer = await dav.fetch(remote.contacts, (await dav.delta(remote.contacts, null)).changed.map((c) => c.href));
    expect(onServer.items.map((i) => i.data)).toEqual(expect.arrayContaining([expect.stringContaining('FN:Vera Vdir Ä')]));
    const inFolder = await vdir.fetch(local.contacts, (await vdir.delta(local.contacts, null)).changed.map((c) => c.href));
    expect(inFolder.items.map((i) => i.data)).toEqual(expect.arrayContaining([expect.stringContaining('FN:Sven Server')]));
  });
});
