// Opens a Kysely instance on one of the three CRM dialects and turns connection failures into
// one-line CrmUnavailableErrors that name the URL without its password.
import Database from 'better-sqlite3';
import { CompiledQuery, Kysely, MysqlDialect, PostgresDialect, SqliteDialect, SqliteDriver, sql, type DatabaseConnection, type Driver, type SqliteDatabase, type SqliteDialectConfig } from 'kysely';
import { createRequire } from 'node:module';
import { CrmUnavailableError } from '../../errors.js';
import { redactString } from '../../log/redact.js';
import { guardPool } from '../pg-guard.js';
import type { CrmDatabase } from './rows.js';
import type { SqlDialect } from './tables.js';

export interface CrmConnectionOptions {
  dialect: SqlDialect;
  /** postgres://…, mysql://…, or the SQLite file path (`sqlite:` / `file:` prefixes allowed). */
  url: string;
  /** PostgreSQL schema that holds the sync_* views (search_path). */
  schema?: string;
  /** SQLite: create the file when missing (crm init); otherwise a missing file is an error. */
  create?: boolean;
}

/** The URL as it may be shown: the password replaced by `***`. */
export function describeCrmUrl(dialect: SqlDialect, url: string): string {
  if (dialect === 'sqlite') return `sqlite:${sqlitePath(url)}`;
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return redactString(url);
  }
}

export function sqlitePath(url: string): string {
  return url.replace(/^sqlite:(\/\/)?/, '').replace(/^file:(\/\/)?/, '');
}

/** Why a connection failed, in a few words, without credentials. */
export function connectionReason(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: { code?: string; message?: string }[] };
  const inner = e.errors?.[0];
  const code = e.code ?? inner?.code;
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused (is the server running and listening there?)',
    ENOTFOUND: 'host not found',
    ETIMEDOUT: 'connection timed out',
    EHOSTUNREACH: 'host unreachable',
    ER_ACCESS_DENIED_ERROR: 'access denied (user or password wrong)',
    ER_BAD_DB_ERROR: 'database does not exist',
    '28P01': 'password authentication failed',
    '28000': 'authentication rejected by pg_hba.conf',
    '3D000': 'database does not exist',
  };
  const text = (code && known[code]) || e.message || inner?.message || String(err);
  return redactString(text.split('\n')[0] ?? text);
}

/**
 * SQLite write transactions start with BEGIN IMMEDIATE: a deferred transaction that later
 * upgrades to a write fails at once with SQLITE_BUSY when the daemon and a CLI command write
 * together; an immediate one waits for busy_timeout instead.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly config: SqliteDialectConfig) {
    super(config);
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.config);
  }
}

/**
 * better-sqlite3 behind Kysely with each SQL text prepared once (D98): Kysely asks for a new
 * statement per query, and preparing one over the sync views costs more than running it — a
 * no-change sync's four quiet-path queries were a fifth of its CPU. The cache is bounded (LRU;
 * queries with a variable number of ids each have their own text), and a statement still
 * iterating (a streamed query) is never handed out twice.
 */
export function preparedOnce(db: Database.Database, max = 256): SqliteDatabase {
  const cache = new Map<string, Database.Statement>();
  return {
    close: () => db.close(),
    prepare(text: string) {
      const hit = cache.get(text);
      if (hit && !hit.busy) {
        cache.delete(text);
        cache.set(text, hit);
        return hit;
      }
      const st = db.prepare(text);
      if (!hit) {
        cache.set(text, st);
        if (cache.size > max) cache.delete(cache.keys().next().value!);
      }
      return st;
    },
  };
}

// The client drivers of PostgreSQL and MariaDB load only when that dialect is configured: an
// installation on the embedded CRM (and every `run --once` there) does not pay for them.
const requireDriver = createRequire(import.meta.url);
const loadPg = () => requireDriver('pg') as typeof import('pg');
const loadMysql = () => requireDriver('mysql2') as typeof import('mysql2');

const SAFE_SCHEMA = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function createKysely(opts: CrmConnectionOptions): Kysely<CrmDatabase> {
  const description = describeCrmUrl(opts.dialect, opts.url);
  switch (opts.dialect) {
    case 'sqlite': {
      let database: Database.Database;
      try {
        database = new Database(sqlitePath(opts.url), { fileMustExist: !opts.create });
      } catch (err) {
        throw new CrmUnavailableError(
          `Cannot open the CRM database ${description}: ${connectionReason(err)}`,
          opts.create ? 'Check that the folder exists and is writable.' : 'Create the embedded CRM with `sync-cli crm init`, or point crm.url at an existing database (`sync-cli crm connect`).',
          err,
        );
      }
      database.pragma('journal_mode = WAL');
      database.pragma('busy_timeout = 5000');
      // better-sqlite3 builds SQLite with a 16 MB page cache per connection; the sync reads the
      // embedded CRM mostly once per record, and the OS caches the file anyway (D79).
      database.pragma('cache_size = -2000');
      return new Kysely<CrmDatabase>({ dialect: new ImmediateSqliteDialect({ database: preparedOnce(database) }) });
    }
    case 'postgres': {
      if (opts.schema && !SAFE_SCHEMA.test(opts.schema)) {
        throw new CrmUnavailableError(`crm.schema "${opts.schema}" is not a plain schema name`, 'Use letters, digits and _ only.');
      }
      const settings = ['-c TimeZone=UTC'];
      if (opts.schema) settings.push(`-c search_path=${opts.schema}`);
      const pg = loadPg();
      const pool = guardPool(new pg.Pool({
        connectionString: opts.url,
        options: settings.join(' '),
        connectionTimeoutMillis: 5000,
        max: 4,
        // Change stamps are read as text so a cursor keeps the database's full precision.
        types: {
          getTypeParser: ((oid: number, format?: string) =>
            oid === 1184 || oid === 1114 || oid === 1082 ? (v: string) => v : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
        },
      }));
      return new Kysely<CrmDatabase>({ dialect: new PostgresDialect({ pool }) });
    }
    case 'mysql': {
      const pool = loadMysql().createPool({ uri: opts.url, dateStrings: true, timezone: 'Z', charset: 'utf8mb4', connectTimeout: 5000, connectionLimit: 4 });
      return new Kysely<CrmDatabase>({ dialect: new MysqlDialect({ pool }) });
    }
  }
}

/** Runs `SELECT 1`; a failure becomes a CrmUnavailableError naming the URL and the reason. */
export async function probeConnection(db: Kysely<CrmDatabase>, dialect: SqlDialect, url: string): Promise<void> {
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw new CrmUnavailableError(
      `Cannot reach the CRM database ${describeCrmUrl(dialect, url)}: ${connectionReason(err)}`,
      'Check the database URL (--url of crm connect, crm.url in config.json), its user and password, and that the database server is running.',
      err,
    );
  }
}
