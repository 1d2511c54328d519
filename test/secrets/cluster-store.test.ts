// The `cluster` credential store (src/secrets/cluster-store.ts, D88) on the real PostgreSQL, used
// the way the engine and the daemon use every store (get/set/delete by mailbox ref), here without
// a context: it opens the state named by config.json itself. A missing or wrong key is a hard,
// configuration outcome and writes nothing. Each run its own schema, dropped after.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, saveConfig } from '../../src/config/load.js';
import { resolvePaths } from '../../src/config/paths.js';
import { ClusterKeyError, generateClusterKey } from '../../src/secrets/cluster-key.js';
import { ClusterCredentialStore } from '../../src/secrets/cluster-store.js';
import { classifyMailboxError } from '../../src/sync/outcome.js';

const BASE = 'postgres://postgres@127.0.0.1:5432/test';
const schema = `cluster_store_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const admin = new pg.Client({ connectionString: BASE });
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sync-cli-cluster-store-'));
const paths = resolvePaths(home);
const key = generateClusterKey();
const env = (k: string | null) => ({ SYNC_CLI_CLUSTER_KEY: k ?? '', CREDENTIALS_DIRECTORY: '' }) as NodeJS.ProcessEnv;

beforeAll(async () => {
  await admin.connect();
  saveConfig(paths.configFile, parseConfig({ crm: { dialect: 'sqlite' }, state: { kind: 'postgres', url: BASE, schema } }, 'test'));
});
afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  fs.rmSync(home, { recursive: true, force: true });
});

const sealedRows = async () => (await admin.query(`SELECT ref, sealed, key_id FROM ${schema}.sealed_secret ORDER BY ref`)).rows;

describe('cluster credential store', () => {
  it('R25: keeps only a sealed value (with its key id) in the state database, and opens it again', async () => {
    const store = new ClusterCredentialStore(paths, env(key));
    expect(await store.get('mailbox:u-1')).toBeNull();
    await store.set('mailbox:u-1', 'geheim-Ω');
    expect(await store.get('mailbox:u-1')).toBe('geheim-Ω');
    const rows = await sealedRows();
    expect(rows).toHaveLength(1);
    expect(rows[0].sealed).toMatch(/^sc1:/);
    expect(JSON.stringify(rows)).not.toContain('geheim');
    expect(JSON.stringify(rows)).not.toContain(key);
    expect(await store.available()).toMatchObject({ ok: true, detail: expect.stringMatching(/sealed under cluster key \w+ \(read from environment variable SYNC_CLI_CLUSTER_KEY\)/) });
  });

  it('R25, R22: another key cannot open it: a hard configuration outcome naming the key source; set writes nothing', async () => {
    const before = await sealedRows();
    const other = new ClusterCredentialStore(paths, env(generateClusterKey()));
    const err = (await other.get('mailbox:u-1').catch((e: unknown) => e)) as ClusterKeyError;
    expect(err).toBeInstanceOf(ClusterKeyError);
    expect(err.message).toMatch(/sealed under cluster key \w+, but the key this host read from environment variable SYNC_CLI_CLUSTER_KEY is \w+/);
    expect(classifyMailboxError(err)).toMatchObject({ kind: 'hard', reason: 'configuration', exitCode: 2 });
    const none = new ClusterCredentialStore(paths, env(null));
    const missing = (await none.set('mailbox:u-2', 'x').catch((e: unknown) => e)) as ClusterKeyError;
    expect(missing).toBeInstanceOf(ClusterKeyError);
    expect(missing.message).toMatch(/No cluster key on this host; looked in/);
    expect(missing.remedy).toMatch(/sync-cli cluster key generate/);
    expect(await none.available()).toMatchObject({ ok: false, fix: expect.stringMatching(/cluster key generate/) });
    expect(await sealedRows()).toEqual(before);
  });

  it('R25: a sealed value moved onto another mailbox does not open; delete removes it', async () => {
    const store = new ClusterCredentialStore(paths, env(key));
    await admin.query(`INSERT INTO ${schema}.sealed_secret (ref, sealed, key_id) SELECT 'mailbox:u-3', sealed, key_id FROM ${schema}.sealed_secret WHERE ref = 'mailbox:u-1'`);
    await expect(store.get('mailbox:u-3')).rejects.toThrow(/does not verify under cluster key/);
    await store.delete('mailbox:u-3');
    await store.delete('mailbox:u-1');
    expect(await sealedRows()).toEqual([]);
  });
});
