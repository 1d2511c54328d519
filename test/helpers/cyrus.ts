// Cyrus IMAP 3.6 with CalDAV/CardDAV (what Fastmail runs), started for a test: our own `master`
// on two free loopback ports (IMAP for the admin, HTTP for DAV) with every file under a temporary
// folder. Nothing global is touched: `-C <our imapd.conf>` is passed to master AND to every
// service command (master does not hand it down; without it the children read /etc/imapd.conf).
// Users live in our own sasldb; each user's INBOX is created over IMAP as admin `cyrus` before
// the first DAV login (Cyrus autoprovisions the DAV homes then). Cyrus logs to syslog only and
// the machine has no /dev/log: its log is lost (the DAV answers carry what the tests need).
// httpd runs with `-U 1` (one connection per process): with reused processes Cyrus 3.6.1 was seen
// to index one account's UID under another account for good (docs/servers.md, D40).
//
//   const cyrus = await startCyrus({ users: { anna: 'pw' } });
//   … cyrus.url (DAV root is cyrus.url + '/dav/') …
//   await cyrus.addUser('ben', 'pw2');
//   await cyrus.stop(); // TERM to master (it stops its children), then the folder is removed
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './servers.js';
import { missingPrerequisites, run, startDaemon, waitForPort, type GroupwareServer } from './daemons.js';

const BIN = '/usr/lib/cyrus/bin';
const ADMIN_PW = 'cyrus-admin-pw';

export type CyrusServer = GroupwareServer<'Cyrus'>;

/** Why Cyrus cannot run here, or undefined. */
export function cyrusUnavailable(): string | undefined {
  return missingPrerequisites([`${BIN}/master`, `${BIN}/httpd`, 'saslpasswd2']);
}

/** One IMAP session: LOGIN as admin, CREATE user/<name> for each name, LOGOUT. */
async function imapCreateMailboxes(port: number, names: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    const commands = [`a0 LOGIN cyrus ${ADMIN_PW}`, ...names.map((n, i) => `a${i + 1} CREATE user/${n}`), `z LOGOUT`];
    let step = -1; // -1 = waiting for the greeting
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`Cyrus IMAP on ${port}: no answer (${buf.slice(-500)})`));
    }, 15_000);
    const next = () => {
      step++;
      if (step < commands.length) s.write(commands[step] + '\r\n');
    };
    s.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      for (;;) {
        const nl = buf.indexOf('\r\n');
        if (nl < 0) break;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (step === -1 && line.startsWith('* OK')) next();
        else if (step >= 0 && step < commands.length) {
          const tag = commands[step]!.split(' ')[0]!;
          if (!line.startsWith(tag + ' ')) continue;
          // An existing mailbox is fine (addUser twice).
          if (!/^\S+ OK/.test(line) && !/ALREADYEXISTS|already exists/i.test(line) && tag !== 'z') {
            clearTimeout(timer);
            s.destroy();
            reject(new Error(`Cyrus IMAP: ${commands[step]!.replace(ADMIN_PW, '***')} → ${line}`));
            return;
          }
          if (tag === 'z') {
            clearTimeout(timer);
            s.end();
            resolve();
            return;
          }
          next();
        }
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export async function startCyrus(opts: { users?: Record<string, string> } = {}): Promise<CyrusServer> {
  const users: Record<string, string> = { ...(opts.users ?? { test: 'test-pass' }) };
  const root = mkdtempSync(join(tmpdir(), 'sync-cli-cyrus-'));
  chmodSync(root, 0o711); // user cyrus must traverse it
  const dir = join(root, 'cyrus');
  for (const sub of ['lib', 'spool', 'run', 'log', 'lib/lock', 'lib/proc', 'lib/socket']) mkdirSync(join(dir, sub), { recursive: true });
  const [imapPort, httpPort] = [await freePort(), await freePort()];
  const conf = join(dir, 'imapd.conf');
  const sasldb = join(dir, 'lib', 'sasldb2');
  writeFileSync(
    conf,
    [
      `configdirectory: ${dir}/lib`,
      `partition-default: ${dir}/spool`,
      'servername: localhost',
      'admins: cyrus',
      'allowplaintext: yes',
      'sasl_pwcheck_method: auxprop',
      'sasl_auxprop_plugin: sasldb',
      `sasl_sasldb_path: ${sasldb}`,
      'sasl_mech_list: PLAIN LOGIN',
      'httpmodules: caldav carddav',
      'unixhierarchysep: yes',
      'httpallowcompress: no',
      `lmtpsocket: ${dir}/lib/socket/lmtp`,
      `idlesocket: ${dir}/lib/socket/idle`,
      `notifysocket: ${dir}/lib/socket/notify`,
      `mboxname_lockpath: ${dir}/lib/lock`,
      `proc_path: ${dir}/lib/proc`,
      'syslog_prefix: sync-cli-test-cyrus',
      '',
    ].join('\n'),
  );
  const C = `-C ${conf}`;
  writeFileSync(
    join(dir, 'cyrus.conf'),
    [
      'START {',
      `  recover cmd="${BIN}/ctl_cyrusdb ${C} -r"`,
      '}',
      'SERVICES {',
      `  imap cmd="${BIN}/imapd ${C}" listen="127.0.0.1:${imapPort}" prefork=0`,
      `  http cmd="${BIN}/httpd ${C} -U 1" listen="127.0.0.1:${httpPort}" prefork=0`,
      '}',
      'EVENTS {',
      `  checkpoint cmd="${BIN}/ctl_cyrusdb ${C} -c" period=600`,
      '}',
      'DAEMON {',
      '}',
      '',
    ].join('\n'),
  );
  const setPassword = (user: string, password: string) => run('saslpasswd2', ['-p', '-c', '-f', sasldb, '-u', 'localhost', user], { input: password });
  setPassword('cyrus', ADMIN_PW);
  for (const [u, p] of Object.entries(users)) setPassword(u, p);
  run('chown', ['-R', 'cyrus:mail', dir]);

  const master = startDaemon(`${BIN}/master`, ['-C', conf, '-M', join(dir, 'cyrus.conf'), '-p', join(dir, 'run', 'master.pid'), '-L', join(dir, 'log', 'master.log')]);
  const stop = async () => {
    await master.stop(10_000);
    rmSync(root, { recursive: true, force: true });
  };
  // The first DAV login of an account creates its homes; done here one account at a time.
  const firstLogin = async (user: string, password: string) => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/dav/calendars/user/${user}/`, {
      method: 'PROPFIND',
      headers: { Depth: '0', Authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') },
    });
    await res.arrayBuffer();
    if (res.status !== 207) throw new Error(`Cyrus: first login of ${user} answered ${res.status}`);
  };
  // The first event stored on a fresh Cyrus initialises shared databases; two accounts doing
  // that at once were seen to get each other's UID index (docs/servers.md). One event of a
  // warm-up account, stored and deleted before any test, makes that happen alone.
  const warmUp = async () => {
    const [u, p] = ['syncwarmup', 'warm-up-pw'];
    setPassword(u, p);
    run('chown', ['cyrus:mail', sasldb]);
    await imapCreateMailboxes(imapPort, [u]);
    await firstLogin(u, p);
    const url = `http://127.0.0.1:${httpPort}/dav/calendars/user/${u}/Default/warm-up.ics`;
    const auth = 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');
    const ics = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//sync-cli//test//EN\r\nBEGIN:VEVENT\r\nUID:warm-up\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T090000Z\r\nDTEND:20260101T100000Z\r\nSUMMARY:warm-up\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n';
    const put = await fetch(url, { method: 'PUT', headers: { Authorization: auth, 'Content-Type': 'text/calendar' }, body: ics });
    const answer = await put.text();
    if (put.status !== 201) throw new Error(`Cyrus warm-up PUT answered ${put.status}: ${answer.replace(/\s+/g, " ")}`);
    await (await fetch(url, { method: 'DELETE', headers: { Authorization: auth } })).arrayBuffer();
  };
  try {
    await waitForPort(imapPort, 'Cyrus imapd', master);
    await waitForPort(httpPort, 'Cyrus httpd', master);
    await imapCreateMailboxes(imapPort, Object.keys(users));
    for (const [u, p] of Object.entries(users)) await firstLogin(u, p);
    await warmUp();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name: 'Cyrus',
    url: `http://127.0.0.1:${httpPort}`,
    dataDir: root,
    users,
    output: master.output,
    async addUser(user, password) {
      setPassword(user, password);
      run('chown', ['cyrus:mail', sasldb]);
      await imapCreateMailboxes(imapPort, [user]);
      await firstLogin(user, password);
      users[user] = password;
    },
    stop,
  };
}
