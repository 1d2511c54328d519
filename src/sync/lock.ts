// A per-mailbox lock that holds across processes (R24): a file created with O_EXCL that holds
// the owner's pid. A lock whose pid is gone (kill -9, crash) is stale and taken over at once —
// mtime-based libraries (proper-lockfile) would make a restart after a crash wait instead.
import fs from 'node:fs';
import path from 'node:path';
import { SyncCliError } from '../errors.js';

export class MailboxLockedError extends SyncCliError {
  constructor(
    readonly name_: string,
    readonly pid: number,
  ) {
    super(`mailbox ${name_} is being synced by another sync-cli process (pid ${pid})`, {
      exitCode: 1,
      remedy: 'Wait for that sync to finish; two syncs of one mailbox never run at once (R24).',
    });
  }
}

/**
 * The lease of a mailbox was lost while its sync ran (a shared store's session to the state
 * database died): another process may hold the mailbox now. The store refuses the state writes
 * (`what` = "nothing was written"); the engine stops the sync (D93).
 */
export class LeaseLostError extends SyncCliError {
  constructor(user: string, where: string, what = 'nothing was written') {
    super(`The lease of mailbox ${user} was lost (the connection to the state database ${where} dropped); ${what}`, {
      exitCode: 1,
      remedy: 'The mailbox is synced again by whichever process holds it now; check the network to the state database if this repeats.',
    });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownedByUs(file: string): boolean {
  try {
    return fs.readFileSync(file, 'utf8') === String(process.pid);
  } catch {
    return false;
  }
}

export interface Lock {
  release(): void;
}

/** Lock files this process holds: a second holder in the same process is refused too (R24). */
const heldHere = new Set<string>();

/** Lock folders this process made (or found): not made again per sync, only if one vanished. */
const madeDirs = new Set<string>();

export function acquireLock(dir: string, name: string): Lock {
  if (!madeDirs.has(dir)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    madeDirs.add(dir);
  }
  const file = path.join(dir, `${encodeURIComponent(name)}.lock`);
  if (heldHere.has(file)) {
    if (ownedByUs(file)) throw new MailboxLockedError(name, process.pid);
    heldHere.delete(file); // removed behind its holder's back (daemon shutdown): free
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      let made: fs.BigIntStats;
      try {
        fs.writeSync(fd, String(process.pid));
        made = fs.fstatSync(fd, { bigint: true });
      } finally {
        fs.closeSync(fd);
      }
      let released = false;
      heldHere.add(file);
      return {
        release() {
          if (released) return;
          released = true;
          heldHere.delete(file);
          try {
            // Still the file this lock made (one stat, not a read: same inode, same nanosecond of
            // its last write): a file another process made after ours was removed behind our
            // back is not ours to remove.
            const now = fs.statSync(file, { bigint: true });
            if (now.ino === made.ino && now.mtimeNs === made.mtimeNs) fs.unlinkSync(file);
          } catch {
            /* already gone */
          }
        },
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && madeDirs.delete(dir)) {
        // The folder was removed since this process made it: made again, then tried again.
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        madeDirs.add(dir);
        continue;
      }
      if (code !== 'EEXIST') throw err;
      let pid = NaN;
      try {
        pid = Number(fs.readFileSync(file, 'utf8'));
      } catch {
        continue; // vanished between open and read: try again
      }
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new MailboxLockedError(name, pid);
      // Stale (owner died) or our own leftover: take it over.
      try {
        fs.unlinkSync(file);
      } catch {
        /* someone else took it over first; loop decides */
      }
    }
  }
  throw new SyncCliError(`could not lock mailbox ${name} (${file})`, { exitCode: 1 });
}
