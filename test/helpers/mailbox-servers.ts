// The five mailbox servers of the suite behind one interface, for suites that run the same tests
// on each (contract, faults, rule scenarios). A server that cannot start here is reported with the
// reason (`unavailable`), and its tests are skipped saying so; in CI all five run.
import { cyrusUnavailable, startCyrus } from './cyrus.js';
import { davicalUnavailable, startDavical } from './davical.js';
import { startRadicale, startXandikos } from './servers.js';
import { sogoUnavailable, startSogo } from './sogo.js';
import { spawnSync } from 'node:child_process';

export type ServerKind = 'radicale' | 'xandikos' | 'cyrus' | 'davical' | 'sogo';

export interface TestServer {
  kind: ServerKind;
  /** Base URL (no trailing slash): what a user would type as the mailbox URL. */
  url: string;
  /** Path of the DAV root on that server ('/SOGo/dav/', '/dav/', …). */
  davRoot: string;
  users: Record<string, string>;
  /** False for Xandikos: one principal, no authentication. */
  multiUser: boolean;
  addUser(user: string, password: string): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

export const SERVER_NAMES: Record<ServerKind, string> = { radicale: 'Radicale', xandikos: 'Xandikos', cyrus: 'Cyrus', davical: 'DAViCal', sogo: 'SOGo' };

function missing(bin: string): string | undefined {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0 ? undefined : `missing ${bin}`;
}

/** Why this server cannot run here (printed when its tests are skipped), or undefined. */
export function serverUnavailable(kind: ServerKind): string | undefined {
  switch (kind) {
    case 'radicale':
      return missing('radicale');
    case 'xandikos':
      return missing('xandikos');
    case 'cyrus':
      return cyrusUnavailable();
    case 'davical':
      return davicalUnavailable();
    case 'sogo':
      return sogoUnavailable();
  }
}

/** Logs and returns the reason a server's tests are skipped (vitest prints the skip itself). */
export function skipReason(kind: ServerKind, suite: string): string | undefined {
  const reason = serverUnavailable(kind);
  if (reason) console.warn(`${suite}: skipping ${SERVER_NAMES[kind]}: ${reason}`);
  return reason;
}

export async function startServer(kind: ServerKind, users: Record<string, string>): Promise<TestServer> {
  if (kind === 'radicale') {
    const s = await startRadicale({ users });
    // Radicale reads its htpasswd file on every request: a new line is a new user.
    return {
      kind,
      url: s.url,
      davRoot: '/',
      users: s.users,
      multiUser: true,
      output: s.output,
      stop: s.stop,
      addUser: async (u, p) => {
        const { appendFileSync } = await import('node:fs');
        const line = spawnSync('htpasswd', ['-nbm', u, p], { encoding: 'utf8' });
        appendFileSync(`${s.dataDir}/users`, (line.status === 0 ? line.stdout.trim() : `${u}:${p}`) + '\n');
        s.users[u] = p;
      },
    };
  }
  if (kind === 'xandikos') {
    const s = await startXandikos();
    return { kind, url: s.url, davRoot: '/', users: {}, multiUser: false, output: s.output, stop: s.stop, addUser: () => Promise.resolve() };
  }
  const s = kind === 'cyrus' ? await startCyrus({ users }) : kind === 'davical' ? await startDavical({ users }) : await startSogo({ users });
  const davRoot = kind === 'cyrus' ? '/dav/' : kind === 'davical' ? '/caldav.php/' : '/SOGo/dav/';
  return { kind, url: s.url, davRoot, users: s.users, multiUser: true, output: s.output, stop: s.stop, addUser: s.addUser };
}
