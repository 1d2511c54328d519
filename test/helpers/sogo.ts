// SOGo 5.8 (groupware; sogod + memcached on PostgreSQL), started for a test as it is deployed:
// sogod on one free loopback port, Apache with mod_proxy in front of it on another (the packaged
// /usr/share/doc/sogo/apache.conf, reduced: /SOGo proxied with the x-webobjects-* headers,
// /.well-known/caldav|carddav → 301 /SOGo/dav), memcached on a third. Its database is a fresh
// one on the local PostgreSQL (SOGo creates its tables; users are rows of our own SQL table with
// plain passwords), dropped by stop().
//
// SOGo reads /etc/sogo/sogo.conf: sogod runs in a PRIVATE MOUNT NAMESPACE (`unshare -m`) where our
// own sogo.conf is bind-mounted over it, so the machine's file is never changed. HOME (the sogo
// user's GNUstep defaults) is a folder of ours. Apache runs in its own process group with its own
// config file, pid file and logs.
//
// Stopping: TERM to sogod's watchdog alone loops forever (its worker ignores TERM), so the
// watchdog gets TERM, its workers get KILL, then the watchdog exits; Apache and memcached get TERM.
//
//   const sogo = await startSogo({ users: { anna: 'pw' } });
//   sogo.url (through Apache; DAV root sogo.url + '/SOGo/dav/'), sogo.directUrl (bare sogod)
//   await sogo.stop();
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './servers.js';
import { childPids, lit, missingPrerequisites, postgresAnswers, psql, run, startDaemon, uniqueSuffix, waitForPort, type Daemon, apacheConfigHead, type GroupwareServer } from './daemons.js';

export interface SogoServer extends GroupwareServer<'SOGo'> {
  /** (url: Apache in front of sogod, how SOGo is deployed.) sogod itself, no Apache. */
  directUrl: string;
}

export function sogoUnavailable(): string | undefined {
  return missingPrerequisites(['/usr/sbin/sogod', 'memcached', 'apache2', 'unshare', 'setpriv', 'psql', '/usr/lib/apache2/modules/mod_proxy_http.so']) ?? postgresAnswers();
}

async function killSogod(watchdog: Daemon): Promise<void> {
  if (watchdog.exited()) return;
  watchdog.child.kill('SIGTERM');
  const deadline = Date.now() + 15_000;
  while (!watchdog.exited() && Date.now() < deadline) {
    for (const pid of childPids(watchdog.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!watchdog.exited()) await watchdog.stop(0);
}

export async function startSogo(opts: { users?: Record<string, string>; workers?: number } = {}): Promise<SogoServer> {
  const users: Record<string, string> = { ...(opts.users ?? { test: 'test-pass' }) };
  const root = mkdtempSync(join(tmpdir(), 'sync-cli-sogo-'));
  chmodSync(root, 0o755);
  const home = join(root, 'home');
  const log = join(root, 'log');
  const runDir = join(root, 'run');
  for (const d of [home, log, runDir]) mkdirSync(d);
  const db = `sync_cli_sogo_${uniqueSuffix()}`;
  const [sogoPort, apachePort, memPort] = [await freePort(), await freePort(), await freePort()];

  const daemons: Daemon[] = [];
  let sogod: Daemon | undefined;
  const stop = async () => {
    if (sogod) await killSogod(sogod);
    await Promise.all(daemons.map((d) => d.stop(5000)));
    try {
      psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`, 'postgres');
    } catch {
      /* best effort */
    }
    rmSync(root, { recursive: true, force: true });
  };
  const addUsers = (list: Record<string, string>) => {
    for (const [u, p] of Object.entries(list)) {
      psql(`INSERT INTO sogo_users (c_uid, c_name, c_password, c_cn, mail) VALUES (${lit(u)}, ${lit(u)}, ${lit(p)}, ${lit(u)}, ${lit(u + '@example.com')})`, db);
    }
  };
  try {
    psql(`CREATE DATABASE ${db} ENCODING 'UTF8' TEMPLATE template0`, 'postgres');
    psql('CREATE TABLE sogo_users (c_uid varchar(255) PRIMARY KEY, c_name varchar(255), c_password varchar(255), c_cn varchar(255), mail varchar(255))', db);
    addUsers(users);

    const pg = (table: string) => `postgresql://postgres:unused@127.0.0.1:5432/${db}/${table}`;
    const conf = join(root, 'sogo.conf');
    writeFileSync(
      conf,
      `{
  SOGoProfileURL = "${pg('sogo_user_profile')}";
  OCSFolderInfoURL = "${pg('sogo_folder_info')}";
  OCSSessionsFolderURL = "${pg('sogo_sessions_folder')}";
  OCSEMailAlarmsFolderURL = "${pg('sogo_alarms_folder')}";
  SOGoUserSources = ({ type = sql; id = users; viewURL = "${pg('sogo_users')}"; canAuthenticate = YES; isAddressBook = NO; userPasswordAlgorithm = plain; });
  SOGoMemcachedHost = "127.0.0.1:${memPort}";
  SOGoTimeZone = UTC;
  SOGoLanguage = English;
  SOGoMailDomain = example.com;
  SOGoAppointmentSendEMailNotifications = NO;
  SOGoPasswordChangeEnabled = NO;
  WOPort = "127.0.0.1:${sogoPort}";
  WOWorkersCount = ${opts.workers ?? 1};
  WOLogFile = "${log}/sogo.log";
  WOPidFile = "${runDir}/sogo.pid";
}
`,
    );
    chmodSync(conf, 0o644);
    run('chown', ['-R', 'sogo:sogo', home, log, runDir]);

    const mem = startDaemon('memcached', ['-l', '127.0.0.1', '-p', String(memPort), '-U', '0', '-u', 'memcache', '-m', '32']);
    daemons.push(mem);
    await waitForPort(memPort, 'memcached', mem);

    sogod = startDaemon('unshare', [
      '-m',
      '--',
      'sh',
      '-c',
      'mount --bind "$1" /etc/sogo/sogo.conf && exec setpriv --reuid=sogo --regid=sogo --init-groups env HOME="$2" /usr/sbin/sogod -WONoDetach YES -WOWorkersCount "$3" -WOPort "$4" -WOLogFile "$5" -WOPidFile "$6"',
      'sh',
      conf,
      home,
      String(opts.workers ?? 1),
      `127.0.0.1:${sogoPort}`,
      `${log}/sogo.log`,
      `${runDir}/sogo.pid`,
    ]);
    await waitForPort(sogoPort, 'sogod', sogod);

    const apacheConf = join(root, 'apache2.conf');
    const front = `http://127.0.0.1:${apachePort}`;
    writeFileSync(
      apacheConf,
      [
        ...apacheConfigHead({ root, runDir, port: apachePort, modules: ['mpm_event', 'authz_core', 'headers', 'setenvif', 'env', 'rewrite', 'proxy', 'proxy_http'] }),
        `ErrorLog ${log}/apache-error.log`,
        'LogLevel warn',
        'KeepAlive On',
        'ProxyRequests Off',
        'ProxyPreserveHost On',
        'SetEnv proxy-nokeepalive 1',
        `ProxyPass /SOGo http://127.0.0.1:${sogoPort}/SOGo retry=0 nocanon`,
        `<Proxy http://127.0.0.1:${sogoPort}/SOGo>`,
        `  RequestHeader set "x-webobjects-server-port" "${apachePort}"`,
        '  RequestHeader set "x-webobjects-server-name" "127.0.0.1"',
        `  RequestHeader set "x-webobjects-server-url" "${front}"`,
        '  RequestHeader unset "x-webobjects-remote-user"',
        '  RequestHeader set "x-webobjects-server-protocol" "HTTP/1.0"',
        '  Require all granted',
        '</Proxy>',
        'RewriteEngine On',
        'RewriteRule ^/.well-known/caldav/?$ /SOGo/dav [R=301]',
        'RewriteRule ^/.well-known/carddav/?$ /SOGo/dav [R=301]',
        '',
      ].join('\n'),
    );
    const apache = startDaemon('apache2', ['-f', apacheConf, '-DFOREGROUND']);
    daemons.push(apache);
    await waitForPort(apachePort, 'Apache (SOGo front)', apache);
    const output = () => {
      let text = '';
      for (const f of ['sogo.log', 'apache-error.log']) {
        try {
          text += readFileSync(join(log, f), 'utf8').slice(-8000);
        } catch {
          /* not written yet */
        }
      }
      return daemons.map((d) => d.output()).join('') + (sogod?.output() ?? '') + text;
    };
    return {
      name: 'SOGo',
      url: front,
      directUrl: `http://127.0.0.1:${sogoPort}`,
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
  } catch (err) {
    await stop();
    throw err;
  }
}
