// The cluster key (src/secrets/cluster-key.ts): AES-256-GCM sealing of the passwords a cluster
// shares, the key read from this host's own store, and the CLI that makes one. A wrong or
// missing key must say which source was read and how to fix it — never show a key or a
// ciphertext, never write anything.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/config/paths.js';
import {
  CLUSTER_KEY_CREDENTIAL, ClusterKeyError, ClusterKeyring, clusterKeyFile, clusterKeyId, generateClusterKey, loadClusterKey, writeClusterKeyFile,
} from '../../src/secrets/cluster-key.js';
import { runCli } from '../helpers/cli.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sync-cli-cluster-key-'));
const noKeychain = { keychain: null };
const keyOf = (b64: string) => Buffer.from(b64, 'base64');
const ring = (b64: string[], where = 'test') => new ClusterKeyring(b64.map(keyOf), { kind: 'env', where });

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

describe('sealing under the cluster key', () => {
  it('R25: a sealed password opens to itself, and the sealed text holds neither it nor the key', () => {
    const key = generateClusterKey();
    const k = ring([key]);
    const sealed = k.seal('pässwörd-Ω 42', 'mailbox:u-1');
    expect(k.open(sealed, 'mailbox:u-1')).toBe('pässwörd-Ω 42');
    expect(sealed).not.toContain('pässwörd');
    expect(sealed).not.toContain(key);
    expect(sealed.split(':')[1]).toBe(clusterKeyId(keyOf(key)));
    // A fresh IV every time: the same password never seals to the same text.
    expect(k.seal('same', 'mailbox:u-1')).not.toBe(k.seal('same', 'mailbox:u-1'));
  });

  it('R25: a flipped byte anywhere in the sealed value is detected, and the message shows no ciphertext', () => {
    const k = ring([generateClusterKey()]);
    const sealed = k.seal('secret-value', 'mailbox:u-1');
    const [fmt, kid, iv, tag, ct] = sealed.split(':') as [string, string, string, string, string];
    const flip = (b64: string) => {
      const b = Buffer.from(b64, 'base64url');
      b[0] = b[0]! ^ 1;
      return b.toString('base64url');
    };
    for (const tampered of [[fmt, kid, flip(iv), tag, ct], [fmt, kid, iv, flip(tag), ct], [fmt, kid, iv, tag, flip(ct)]].map((p) => p.join(':'))) {
      const err = (() => {
        try {
          k.open(tampered, 'mailbox:u-1');
        } catch (e) {
          return e as ClusterKeyError;
        }
        throw new Error('tampering was not detected');
      })();
      expect(err).toBeInstanceOf(ClusterKeyError);
      expect(err.message).toContain('changed or damaged');
      expect(err.message).toContain('mailbox:u-1');
      expect(err.message).not.toContain(ct);
      expect(err.remedy).toContain('users passwd u-1');
    }
  });

  it('R25: a value sealed for one mailbox does not open as another mailbox\'s', () => {
    const k = ring([generateClusterKey()]);
    expect(() => k.open(k.seal('pw', 'mailbox:anna'), 'mailbox:bert')).toThrow(/changed or damaged/);
  });

  it('R25: a wrong key names the source it was read from and both key ids, never a key', () => {
    const right = generateClusterKey();
    const wrong = generateClusterKey();
    const sealed = ring([right]).seal('pw', 'mailbox:u-1');
    const err = (() => {
      try {
        ring([wrong], 'environment variable SYNC_CLI_CLUSTER_KEY').open(sealed, 'mailbox:u-1');
      } catch (e) {
        return e as ClusterKeyError;
      }
      throw new Error('opened with the wrong key');
    })();
    expect(err.message).toContain('environment variable SYNC_CLI_CLUSTER_KEY');
    expect(err.message).toContain(clusterKeyId(keyOf(right)));
    expect(err.message).toContain(clusterKeyId(keyOf(wrong)));
    expect(`${err.message} ${err.remedy}`).not.toContain(right);
    expect(`${err.message} ${err.remedy}`).not.toContain(wrong);
    expect(err.remedy).toContain('cluster key generate');
  });

  it('R25: rotation: the new key seals, the old one listed after it still opens what it sealed', () => {
    const oldKey = generateClusterKey();
    const newKey = generateClusterKey();
    const before = ring([oldKey]).seal('old-pw', 'mailbox:u-1');
    const rotated = ring([newKey, oldKey]);
    expect(rotated.open(before, 'mailbox:u-1')).toBe('old-pw');
    const after = rotated.seal('new-pw', 'mailbox:u-1');
    expect(after.split(':')[1]).toBe(clusterKeyId(keyOf(newKey)));
    expect(() => ring([oldKey]).open(after, 'mailbox:u-1')).toThrow(ClusterKeyError);
  });
});

describe('reading the key from the host', () => {
  it('R25: in order: systemd credential, then SYNC_CLI_CLUSTER_KEY, then the 0600 file in the home', async () => {
    const paths = resolvePaths(tmp());
    const [kSystemd, kEnv, kFile] = [generateClusterKey(), generateClusterKey(), generateClusterKey()];
    writeClusterKeyFile(clusterKeyFile(paths), kFile);
    const credDir = tmp();
    fs.writeFileSync(path.join(credDir, CLUSTER_KEY_CREDENTIAL), `${kSystemd}\n`, { mode: 0o400 });
    const all = { CREDENTIALS_DIRECTORY: credDir, SYNC_CLI_CLUSTER_KEY: kEnv };
    const a = await loadClusterKey(paths, { ...noKeychain, env: all });
    expect([a.source.kind, a.currentId]).toEqual(['systemd', clusterKeyId(keyOf(kSystemd))]);
    const b = await loadClusterKey(paths, { ...noKeychain, env: { SYNC_CLI_CLUSTER_KEY: kEnv } });
    expect([b.source.kind, b.currentId]).toEqual(['env', clusterKeyId(keyOf(kEnv))]);
    const c = await loadClusterKey(paths, { ...noKeychain, env: {} });
    expect([c.source.kind, c.currentId]).toEqual(['file', clusterKeyId(keyOf(kFile))]);
    expect(c.source.where).toBe(clusterKeyFile(paths));
  });

  it('R25: a key file others can read is refused with the chmod fix, even when its key is good', async () => {
    const paths = resolvePaths(tmp());
    const file = clusterKeyFile(paths);
    const key = generateClusterKey();
    writeClusterKeyFile(file, key);
    fs.chmodSync(file, 0o644);
    const err = (await loadClusterKey(paths, { ...noKeychain, env: {} }).catch((e: unknown) => e)) as ClusterKeyError;
    expect(err).toBeInstanceOf(ClusterKeyError);
    expect(err.message).toContain(file);
    expect(err.message).toContain('644');
    expect(err.remedy).toContain(`chmod 600 ${file}`);
    expect(`${err.message} ${err.remedy}`).not.toContain(key);
    expect(fs.statSync(file).mode & 0o777).toBe(0o644); // nothing changed
  });

  it('R25: a bad key is refused naming its source, without quoting it; the next source is not tried', async () => {
    const paths = resolvePaths(tmp());
    writeClusterKeyFile(clusterKeyFile(paths), generateClusterKey());
    const short = Buffer.alloc(16, 7).toString('base64');
    const err = (await loadClusterKey(paths, { ...noKeychain, env: { SYNC_CLI_CLUSTER_KEY: short } }).catch((e: unknown) => e)) as ClusterKeyError;
    expect(err.message).toContain('SYNC_CLI_CLUSTER_KEY');
    expect(err.message).toContain('16 bytes');
    expect(err.message).not.toContain(short);
    const junk = (await loadClusterKey(paths, { ...noKeychain, env: { SYNC_CLI_CLUSTER_KEY: 'not a key at all!' } }).catch((e: unknown) => e)) as Error;
    expect(junk.message).toContain('other text');
    expect(junk.message).not.toContain('not a key at all');
  });

  it('R25: no key anywhere: every place looked in is named, with the fix, and nothing is written', async () => {
    const home = tmp();
    const paths = resolvePaths(home);
    const err = (await loadClusterKey(paths, { ...noKeychain, env: {} }).catch((e: unknown) => e)) as ClusterKeyError;
    expect(err).toBeInstanceOf(ClusterKeyError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('CREDENTIALS_DIRECTORY');
    expect(err.message).toContain('SYNC_CLI_CLUSTER_KEY: not set');
    expect(err.message).toContain(clusterKeyFile(paths));
    expect(err.remedy).toContain('sync-cli cluster key generate');
    expect(listFiles(home)).toEqual([]);
  });
});

describe('sync-cli cluster key generate', () => {
  it('R25: writes a new 0600 key file that loads, and refuses to replace it without --force', async () => {
    const home = tmp();
    const r = runCli(['--home', home, 'cluster', 'key', 'generate']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const paths = resolvePaths(home);
    const file = clusterKeyFile(paths);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const k = await loadClusterKey(paths, { ...noKeychain, env: {} });
    expect(r.stdout).toContain(`cluster key ${k.currentId} written to ${file}`);
    expect(r.stdout).not.toContain(fs.readFileSync(file, 'utf8').trim());
    const before = fs.readFileSync(file, 'utf8');
    const again = runCli(['--home', home, 'cluster', 'key', 'generate']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already holds a cluster key; nothing was changed');
    expect(again.stderr).toContain('fix:');
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
    expect(runCli(['--home', home, 'cluster', 'key', 'generate', '--force']).code).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).not.toBe(before);
  });

  it('R25: --print puts only the key on stdout (for systemd-creds encrypt) and writes nothing', () => {
    const home = tmp();
    const r = runCli(['--home', home, 'cluster', 'key', 'generate', '--print']);
    expect(r.code).toBe(0);
    const printed = r.stdout.trim();
    expect(Buffer.from(printed, 'base64')).toHaveLength(32);
    expect(r.stdout).toBe(`${printed}\n`);
    expect(r.stderr).toContain('nothing was written');
    expect(fs.existsSync(clusterKeyFile(resolvePaths(home)))).toBe(false);
  });
});
