// Test databases for the CRM contract suite: a temp SQLite file, a fresh PostgreSQL schema and a
// fresh MariaDB database per run, each dropped afterwards. A server that is not reachable is
// reported with a reason so its tests are skipped visibly.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';
import type { CrmConnectionOptions } from '../../src/providers/crm/connect.js';
import { SqlCrmProvider } from '../../src/providers/crm/sql-provider.js';

export interface TestDatabase {
  options: CrmConnectionOptions;
  /** Runs SQL as the test (outside the provider), e.g. to set equal timestamps. */
  exec(sql: string): Promise<void>;
  drop(): Promise<void>;
}

export interface CrmTarget {
  name: 'sqlite' | 'postgres' | 'mysql';
  /** Why the target cannot run, or null when it can. */
  unavailable: string | null;
  /** A fresh, empty database (no tables). */
  create(): Promise<TestDatabase>;
}

const suffix = () => `${process.pid}_${randomBytes(4).toString('hex')}`;

async function findPostgresUser(): Promise<{ user: string | null; reason: string | null }> {
  let reason = '';
  for (const user of ['postgres', 'root']) {
    const client = new pg.Client({ host: '127.0.0.1', port: 5432, user, database: 'test', connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.end();
      return { user, reason: null };
    } catch (err) {
      reason = (err as Error).message || (err as { code?: string }).code || String(err);
      await client.end().catch(() => undefined);
    }
  }
  return { user: null, reason };
}

async function mysqlReason(): Promise<string | null> {
  try {
    const c = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root', connectTimeout: 3000 });
    await c.end();
    return null;
  } catch (err) {
    return (err as Error).message || (err as { code?: string }).code || String(err);
  }
}

const pgFound = await findPostgresUser();
const myReason = await mysqlReason();

export const sqliteTarget: CrmTarget = {
  name: 'sqlite',
  unavailable: null,
  async create() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-test-'));
    const url = path.join(dir, 'crm.sqlite');
    const Database = (await import('better-sqlite3')).default;
    return {
      options: { dialect: 'sqlite', url },
      async exec(sql) {
        const db = new Database(url);
        try {
          db.exec(sql);
        } finally {
          db.close();
        }
      },
      async drop() {
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export const postgresUser = pgFound.user;

export const postgresTarget: CrmTarget = {
  name: 'postgres',
  unavailable: pgFound.user ? null : `PostgreSQL at 127.0.0.1:5432 (db test, user postgres/root) not reachable: ${pgFound.reason}`,
  async create() {
    const schema = `crm_test_${suffix()}`;
    const connect = async () => {
      const c = new pg.Client({ host: '127.0.0.1', port: 5432, user: pgFound.user ?? 'postgres', database: 'test' });
      await c.connect();
      return c;
    };
    const admin = await connect();
    await admin.query(`create schema ${schema}`);
    await admin.end();
    return {
      options: { dialect: 'postgres', url: `postgres://${pgFound.user}@127.0.0.1:5432/test`, schema },
      async exec(sql) {
        const c = await connect();
        try {
          await c.query(`set search_path = ${schema}; ${sql}`);
        } finally {
          await c.end();
        }
      },
      async drop() {
        const c = await connect();
        try {
          await c.query(`drop schema ${schema} cascade`);
        } finally {
          await c.end();
        }
      },
    };
  },
};

export const mysqlTarget: CrmTarget = {
  name: 'mysql',
  unavailable: myReason ? `MariaDB at 127.0.0.1:3306 (user root, no password) not reachable: ${myReason}` : null,
  async create() {
    const database = `crm_test_${suffix()}`;
    const admin = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
    await admin.query(`create database ${database} character set utf8mb4 collate utf8mb4_bin`);
    await admin.end();
    return {
      options: { dialect: 'mysql', url: `mysql://root@127.0.0.1:3306/${database}` },
      async exec(sql) {
        const c = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database, multipleStatements: true });
        try {
          await c.query(sql);
        } finally {
          await c.end();
        }
      },
      async drop() {
        const c = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
        try {
          await c.query(`drop database if exists ${database}`);
        } finally {
          await c.end();
        }
      },
    };
  },
};

export const targets: CrmTarget[] = [sqliteTarget, postgresTarget, mysqlTarget];

for (const t of targets) if (t.unavailable) console.warn(`skipping CRM tests on ${t.name}: ${t.unavailable}`);

/** A database with the embedded CRM's tables and a provider on it. */
export async function openWithTables(target: CrmTarget): Promise<{ db: TestDatabase; provider: SqlCrmProvider }> {
  const db = await target.create();
  await SqlCrmProvider.createTables(db.options);
  const provider = await SqlCrmProvider.open(db.options);
  return { db, provider };
}
