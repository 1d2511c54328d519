// DAViCal 1.1 (PHP on Apache, PostgreSQL), started for a test: Apache with its own config file on
// a free loopback port (`apache2 -f FILE -DFOREGROUND`, own PidFile/Mutex/runtime dir/logs under a
// temporary folder) and a database + two roles of its own on the local PostgreSQL (dropped again
// by stop()). DAViCal insists on reading its configuration from /etc/davical/: Apache runs in a
// PRIVATE MOUNT NAMESPACE (`unshare -m`) where our own folder is bind-mounted over /etc/davical,
// so the machine's /etc/davical is never changed, not even for a moment.
//
//   const davical = await startDavical({ users: { anna: 'pw' } });
//   … davical.url (principal and both homes: davical.url + '/caldav.php/anna/') …
//   await davical.stop(); // TERM to Apache's parent pid, DROP DATABASE + roles, folder removed
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './servers.js';
import { apacheConfigHead, lit, missingPrerequisites, type GroupwareServer, postgresAnswers, psql, run, startDaemon, uniqueSuffix, waitForPort } from './daemons.js';

const PRIVILEGES = ['read', 'write', 'write-properties', 'write-content', 'unlock', 'read-acl', 'read-current-user-privilege-set', 'bind', 'unbind', 'schedule-deliver', 'schedule-send'];

export type DavicalServer = GroupwareServer<'DAViCal'>;

export function davicalUnavailable(): string | undefined {
  return missingPrerequisites(['apache2', 'unshare', 'psql', '/usr/share/davical/dba/create-database.sh', '/usr/lib/apache2/modules/libphp8.2.so']) ?? postgresAnswers();
}

export async function startDavical(opts: { users?: Record<string, string> } = {}): Promise<DavicalServer> {
  const users: Record<string, string> = { ...(opts.users ?? { test: 'test-pass' }) };
  const root = mkdtempSync(join(tmpdir(), 'sync-cli-davical-'));
  chmodSync(root, 0o755); // www-data reads the config below it
  const etc = join(root, 'etc-davical');
  const run_ = join(root, 'run');
  mkdirSync(etc);
  mkdirSync(run_);
  const suffix = uniqueSuffix();
  const db = `sync_cli_davical_${suffix}`;
  const dba = `sync_cli_davical_dba_${suffix}`;
  const app = `sync_cli_davical_app_${suffix}`;
  const port = await freePort();

  const dropDatabase = () => {
    try {
      psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`, 'postgres');
      psql(`DROP ROLE IF EXISTS ${app}`, 'postgres');
      psql(`DROP ROLE IF EXISTS ${dba}`, 'postgres');
    } catch {
      /* best effort: the next run uses other names */
    }
  };
  try {
    // The script writes an install note with mktemp: keep it inside our folder.
    run('sh', ['/usr/share/davical/dba/create-database.sh', db, 'unused-admin-pw', dba, app], {
      env: { ...process.env, TMPDIR: root, PGHOST: '127.0.0.1', PGUSER: 'postgres', PSQLOPTS: '-h 127.0.0.1 -U postgres', DBAOPTS: '--dbhost 127.0.0.1' },
    });
  } catch (err) {
    dropDatabase();
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const addUsers = (list: Record<string, string>) => {
    for (const [u, p] of Object.entries(list)) {
      psql(
        `INSERT INTO usr (active, email_ok, updated, username, password, fullname, email) VALUES (true, now(), now(), ${lit(u)}, ${lit('**' + p)}, ${lit(u)}, ${lit(u + '@example.com')});
         INSERT INTO principal (type_id, user_no, displayname, default_privileges) VALUES (1, currval('usr_user_no_seq'), ${lit(u)}, privilege_to_bits(ARRAY[${PRIVILEGES.map(lit).join(',')}]));`,
        db,
      );
    }
  };
  addUsers(users);

  writeFileSync(
    join(etc, 'config.php'),
    `<?php\n$c->pg_connect[] = "host=127.0.0.1 port=5432 dbname=${db} user=${app}";\n$c->system_name = "sync-cli test DAViCal";\n$c->admin_email = "admin@example.com";\n`,
  );
  chmodSync(join(etc, 'config.php'), 0o644);
  const apacheConf = join(root, 'apache2.conf');
  writeFileSync(
    apacheConf,
    [
      ...apacheConfigHead({ root, runDir: run_, port, modules: ['mpm_prefork', 'authz_core', 'mime', 'dir', 'rewrite', 'env', 'php:libphp8.2.so'] }),
      'StartServers 2',
      'MinSpareServers 1',
      'MaxSpareServers 4',
      'MaxRequestWorkers 8',
      'TypesConfig /etc/mime.types',
      `ErrorLog ${root}/error.log`,
      'LogLevel warn',
      'KeepAlive On',
      '<FilesMatch "\\.php$">',
      '  SetHandler application/x-httpd-php',
      '</FilesMatch>',
      'DocumentRoot /usr/share/davical/htdocs',
      'DirectoryIndex index.php',
      '<Directory /usr/share/davical/htdocs>',
      '  Require all granted',
      '  AllowOverride None',
      '  php_value include_path /usr/share/awl/inc',
      '  php_value magic_quotes_gpc 0',
      '  php_value register_globals 0',
      '  php_value error_reporting "E_ALL & ~E_NOTICE"',
      '  php_value default_charset "utf-8"',
      '</Directory>',
      'RewriteEngine On',
      'RewriteRule ^/\\.well-known/(.*)$ /caldav.php/.well-known/$1 [NC,L]',
      '',
    ].join('\n'),
  );
  const apache = startDaemon('unshare', ['-m', '--', 'sh', '-c', 'mount --bind "$1" /etc/davical && exec apache2 -f "$2" -DFOREGROUND', 'sh', etc, apacheConf]);
  const output = () => {
    let log = '';
    try {
      log = run('tail', ['-n', '40', join(root, 'error.log')]);
    } catch {
      /* no log yet */
    }
    return apache.output() + log;
  };
  const stop = async () => {
    await apache.stop(10_000);
    dropDatabase();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 'DAViCal (Apache)', apache);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name: 'DAViCal',
    url: `http://127.0.0.1:${port}`,
    dataDir: root,
    users,
    output,
    addUser(user, password) {
      addUsers({ [user]: password });
      users[user] = password;
      return Promise.resolve();
    },
    stop,
  };
}
