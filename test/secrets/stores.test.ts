// The credential stores, against the real backends: a 0600 file, environment variables,
// systemd-creds where it runs, and the Secret Service (gnome-keyring on a private D-Bus) where
// it is installed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { resolvePaths } from '../../src/config/paths.js';
import { redactString } from '../../src/log/redact.js';
import {
  CredentialMissingError,
  EnvCredentialStore,
  FileCredentialStore,
  KeychainCredentialStore,
  SystemdCredentialStore,
  deleteMailboxPassword,
  getMailboxPassword,
  passwordEnvName,
  storeMailboxPassword,
  systemdCredentialName,
  systemdUnitCredentialLines,
} from '../../src/secrets/index.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sync-cli-secrets-'));

describe('file credential store', () => {
  it('R25: keeps secrets in a 0600 file that holds nothing but secrets', async () => {
    const paths = resolvePaths(tmp());
    await storeMailboxPassword({ user: 'u1', credentialStore: 'file' }, 'pw-one-Ä', paths);
    await storeMailboxPassword({ user: 'u2', credentialStore: 'file' }, 'pw-two', paths);
    expect(fs.statSync(paths.secretsFile).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(paths.secretsFile, 'utf8'))).toEqual({ 'mailbox:u1': 'pw-one-Ä', 'mailbox:u2': 'pw-two' });
    expect(await getMailboxPassword({ user: 'u1', credentialStore: 'file' }, paths)).toBe('pw-one-Ä');
    await deleteMailboxPassword({ user: 'u1', credentialStore: 'file' }, paths);
    expect(JSON.parse(fs.readFileSync(paths.secretsFile, 'utf8'))).toEqual({ 'mailbox:u2': 'pw-two' });
  });

  it('R25: a loaded password is masked in anything printed afterwards', async () => {
    const paths = resolvePaths(tmp());
    await new FileCredentialStore(paths.secretsFile).set('mailbox:u9', 'zebra-horse-42');
    await getMailboxPassword({ user: 'u9', credentialStore: 'file' }, paths);
    expect(redactString('login failed with zebra-horse-42')).toBe('login failed with ***');
  });

  it('says which mailbox has no password and how to store it', async () => {
    const paths = resolvePaths(tmp());
    const err = await getMailboxPassword({ user: 'anna-id', credentialStore: 'file' }, paths).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialMissingError);
    expect((err as CredentialMissingError).message).toContain('anna-id');
    expect((err as CredentialMissingError).remedy).toContain('users assign');
    expect((err as CredentialMissingError).exitCode).toBe(2);
  });

  it('re-tightens a secrets file whose mode was widened, and reports it before that', async () => {
    const paths = resolvePaths(tmp());
    const store = new FileCredentialStore(paths.secretsFile);
    await store.set('mailbox:a', 'secret-a');
    fs.chmodSync(paths.secretsFile, 0o644);
    const availability = await store.available();
    expect(availability.ok).toBe(false);
    expect(availability.detail).toContain('chmod 600');
    await store.set('mailbox:b', 'secret-b');
    expect(fs.statSync(paths.secretsFile).mode & 0o777).toBe(0o600);
  });

  it('refuses a corrupt secrets file without quoting its content', async () => {
    const paths = resolvePaths(tmp());
    fs.mkdirSync(paths.dataDir, { recursive: true });
    fs.writeFileSync(paths.secretsFile, '{"mailbox:a": "half-a-secret', { mode: 0o600 });
    const err = (await getMailboxPassword({ user: 'a', credentialStore: 'file' }, paths).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain('not valid JSON');
    expect(err.message).not.toContain('half-a-secret');
  });
});

describe('env credential store', () => {
  it('reads SYNC_CLI_PASSWORD_<USER> at run time and stores nothing', async () => {
    const home = tmp();
    const paths = resolvePaths(home);
    expect(passwordEnvName('mailbox:u-1.x')).toBe('SYNC_CLI_PASSWORD_U_1_X');
    const env = { SYNC_CLI_PASSWORD_U_1: 'from-env-pw' };
    await storeMailboxPassword({ user: 'u-1', credentialStore: 'env' }, 'from-env-pw', paths, env);
    expect(fs.readdirSync(home)).toEqual([]);
    expect(await getMailboxPassword({ user: 'u-1', credentialStore: 'env' }, paths, env)).toBe('from-env-pw');
    const missing = (await getMailboxPassword({ user: 'u-2', credentialStore: 'env' }, paths, env).catch((e: unknown) => e)) as Error;
    expect(missing).toBeInstanceOf(CredentialMissingError);
    expect(missing.message).toContain('SYNC_CLI_PASSWORD_U_2');
  });

  it('refuses to "store" a password that differs from the one the variable already holds', async () => {
    const store = new EnvCredentialStore({ SYNC_CLI_PASSWORD_U1: 'old-pw' });
    const err = (await store.set('mailbox:u1', 'new-pw').catch((e: unknown) => e)) as Error;
    expect(err.message).toContain('SYNC_CLI_PASSWORD_U1');
    expect(err.message).not.toContain('old-pw');
    expect(err.message).not.toContain('new-pw');
  });
});

const systemdCreds = spawnSync('systemd-creds', ['--version']);
const canEncrypt = systemdCreds.status === 0 && process.getuid?.() === 0;
describe('systemd credential store', () => {
  it.skipIf(!canEncrypt)('encrypts at assign time and reads from $CREDENTIALS_DIRECTORY in the unit', async () => {
    const home = tmp();
    const paths = resolvePaths(home);
    await storeMailboxPassword({ user: 'u1', credentialStore: 'systemd' }, 'systemd-pw-1', paths);
    const store = new SystemdCredentialStore(path.join(home, 'credentials'));
    const file = store.fileFor('mailbox:u1');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file).includes(Buffer.from('systemd-pw-1'))).toBe(false);
    // Outside the unit (root): decrypted with systemd-creds.
    expect(await getMailboxPassword({ user: 'u1', credentialStore: 'systemd' }, paths, {})).toBe('systemd-pw-1');
    // Inside the unit: systemd has put the plain text into $CREDENTIALS_DIRECTORY/<name>.
    const credDir = tmp();
    fs.writeFileSync(path.join(credDir, systemdCredentialName('mailbox:u1')), 'from-unit-pw');
    expect(await getMailboxPassword({ user: 'u1', credentialStore: 'systemd' }, paths, { CREDENTIALS_DIRECTORY: credDir })).toBe('from-unit-pw');
    expect(systemdUnitCredentialLines([{ user: 'u1', credentialStore: 'systemd' }, { user: 'u2', credentialStore: 'file' }], paths)).toEqual([
      `LoadCredentialEncrypted=sync-cli-mailbox-u1:${file}`,
    ]);
    await deleteMailboxPassword({ user: 'u1', credentialStore: 'systemd' }, paths);
    expect(fs.existsSync(file)).toBe(false);
  });
  if (!canEncrypt) console.log(`skipped systemd credential test: ${systemdCreds.status !== 0 ? 'systemd-creds is not installed' : 'not running as root (host key)'}`);
});

// gnome-keyring on a private session bus: the Secret Service an admin's desktop session has.
const hasKeyring = spawnSync('sh', ['-c', 'command -v dbus-daemon && command -v gnome-keyring-daemon']).status === 0;
describe('keychain credential store (Secret Service)', () => {
  const children: ChildProcess[] = [];
  let previousBus: string | undefined;
  let ready = false;
  beforeAll(async () => {
    if (!hasKeyring) return;
    const dir = tmp();
    // A bus without service activation: asked for org.freedesktop.secrets before our daemon has
    // taken the name (a loaded CI), Debian's session bus would start a second gnome-keyring from
    // /usr/share/dbus-1/services with the real HOME, locked — and it would keep the name.
    fs.writeFileSync(
      path.join(dir, 'bus.conf'),
      `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path=${dir}/bus</listen>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>\n`,
    );
    const bus = spawn('dbus-daemon', [`--config-file=${path.join(dir, 'bus.conf')}`, '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(bus);
    const address = await new Promise<string>((resolve) => bus.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
    const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: address, HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), XDG_RUNTIME_DIR: dir };
    const keyring = spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], { env, stdio: ['pipe', 'ignore', 'ignore'] });
    children.push(keyring);
    keyring.stdin!.end('keyring-unlock');
    previousBus = process.env.DBUS_SESSION_BUS_ADDRESS;
    process.env.DBUS_SESSION_BUS_ADDRESS = address;
    // Wait until the daemon owns org.freedesktop.secrets and has created its default keyring.
    const store = new KeychainCredentialStore();
    let roundTrips = 0;
    // Under a loaded CI the daemon can take many seconds to create and unlock its default
    // collection: wait for three clean round trips in a row, up to 45 s.
    for (let i = 0; i < 450 && roundTrips < 3; i++) {
      const ok = await store
        .set('probe-ready', 'x')
        .then(() => store.get('probe-ready'))
        .then((v) => v === 'x', () => false);
      roundTrips = ok ? roundTrips + 1 : 0;
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    await store.delete('probe-ready').catch(() => undefined);
    ready = roundTrips >= 3;
  }, 60_000);
  afterAll(() => {
    for (const c of children.reverse()) c.kill();
    if (previousBus === undefined) delete process.env.DBUS_SESSION_BUS_ADDRESS;
    else process.env.DBUS_SESSION_BUS_ADDRESS = previousBus;
  });

  it.skipIf(!hasKeyring)('stores, reads and deletes a mailbox password in the Secret Service', async (ctx) => {
    if (!ready) {
      // Seen on a loaded machine: the private gnome-keyring never created its default collection.
      console.log('skipped keychain test: the private gnome-keyring did not offer a usable Secret Service within 45 s');
      ctx.skip();
    }
    const paths = resolvePaths(tmp());
    expect((await new KeychainCredentialStore().available()).ok).toBe(true);
    await storeMailboxPassword({ user: 'kc-user', credentialStore: 'keychain' }, 'keychain-pw-7', paths);
    expect(fs.existsSync(paths.secretsFile)).toBe(false);
    expect(await getMailboxPassword({ user: 'kc-user', credentialStore: 'keychain' }, paths)).toBe('keychain-pw-7');
    await deleteMailboxPassword({ user: 'kc-user', credentialStore: 'keychain' }, paths);
    await expect(getMailboxPassword({ user: 'kc-user', credentialStore: 'keychain' }, paths)).rejects.toBeInstanceOf(CredentialMissingError);
  });
  if (!hasKeyring) console.log('skipped keychain test: dbus-daemon or gnome-keyring-daemon is not installed (apt-get install gnome-keyring)');

});

describe('file credential store: read once per process', () => {
  it('R25: a thousand password reads parse the secrets file once', async () => {
    const paths = resolvePaths(tmp());
    const store = new FileCredentialStore(paths.secretsFile);
    for (let i = 0; i < 50; i++) await store.set(`mailbox:u${i}`, `pw-${i}`);
    const opens = vi.spyOn(fs, 'openSync');
    try {
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 50; i++) expect(await getMailboxPassword({ user: `u${i}`, credentialStore: 'file' }, paths)).toBe(`pw-${i}`);
      }
      const reads = () => opens.mock.calls.filter(([f]) => f === paths.secretsFile).length;
      expect(reads()).toBeLessThanOrEqual(1);
      // …and read again once it changed.
      const before = reads();
      fs.utimesSync(paths.secretsFile, new Date(), new Date(Date.now() + 5000));
      expect(await getMailboxPassword({ user: 'u7', credentialStore: 'file' }, paths)).toBe('pw-7');
      expect(reads()).toBe(before + 1);
    } finally {
      opens.mockRestore();
    }
  });

  it('R25: a password changed by another process is seen at the next read — rewritten in place or replaced', async () => {
    const paths = resolvePaths(tmp());
    await storeMailboxPassword({ user: 'u1', credentialStore: 'file' }, 'pw-aaaa', paths);
    await storeMailboxPassword({ user: 'u2', credentialStore: 'file' }, 'pw-keep', paths);
    expect(await getMailboxPassword({ user: 'u1', credentialStore: 'file' }, paths)).toBe('pw-aaaa');
    const other = (code: string) => {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', env: { ...process.env, FILE: paths.secretsFile } });
      expect(r.stderr).toBe('');
    };
    // Same inode, same size: only the modification time tells.
    other("import fs from 'node:fs'; const f = process.env.FILE; fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('pw-aaaa', 'pw-bbbb'));");
    expect(await getMailboxPassword({ user: 'u1', credentialStore: 'file' }, paths)).toBe('pw-bbbb');
    // What `users assign` on another process does: a new file renamed over the old one.
    other("import fs from 'node:fs'; const f = process.env.FILE; const d = JSON.parse(fs.readFileSync(f, 'utf8')); d['mailbox:u3'] = 'pw-new'; fs.writeFileSync(f + '.tmp', JSON.stringify(d), { mode: 0o600 }); fs.renameSync(f + '.tmp', f);");
    expect(await getMailboxPassword({ user: 'u3', credentialStore: 'file' }, paths)).toBe('pw-new');
    expect(await getMailboxPassword({ user: 'u2', credentialStore: 'file' }, paths)).toBe('pw-keep');
    // Removed by another process: gone here too.
    fs.rmSync(paths.secretsFile);
    await expect(getMailboxPassword({ user: 'u2', credentialStore: 'file' }, paths)).rejects.toBeInstanceOf(CredentialMissingError);
  });
});
