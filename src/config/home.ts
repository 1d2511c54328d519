// The installation's folders (--home, or the platform's config and data dirs) are trusted only
// when no other local user can change what is in them: otherwise a planted config.json sends the
// passwords elsewhere, a planted symlink makes us write a password into someone else's file.
// Rule (the one sshd applies to ~/.ssh): every folder from / down to the home, the home itself and
// every file in it belongs to the user running sync-cli or to root, and is not writable by group
// or others (a folder with the sticky bit, like /tmp, may be). Files are never followed through
// symlinks, on read or write. See docs/security.md.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { Paths } from './paths.js';

const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

function uid(): number | undefined {
  return typeof process.geteuid === 'function' ? process.geteuid() : undefined;
}

function ownerName(id: number): string {
  if (id === 0) return 'root';
  try {
    const line = fs
      .readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.split(':')[2] === String(id));
    if (line) return line.split(':')[0]!;
  } catch {
    /* no passwd file: the number it is */
  }
  return `uid ${id}`;
}

/** What is wrong with one path (lstat'ed), or undefined when it is safe. */
function problemOf(p: string, st: fs.Stats, me: number, expect: 'dir' | 'file' | 'ancestor'): { message: string; fix: string } | undefined {
  if (st.isSymbolicLink()) return { message: `${p} is a symbolic link`, fix: `replace it with the file itself (sync-cli never follows links in its home): rm ${p}` };
  if (expect === 'file' && !st.isFile() && !st.isDirectory()) return { message: `${p} is not a regular file`, fix: `remove it: rm ${p}` };
  if (st.uid !== me && st.uid !== 0) {
    const who = me === 0 ? 'root' : ownerName(me);
    return {
      message: `${p} belongs to ${ownerName(st.uid)}, not to ${who} who runs sync-cli`,
      fix: me === 0 ? `run sync-cli as that user (sudo -u ${ownerName(st.uid)} sync-cli …), or take it over: chown -R root ${p}` : `chown ${who} ${p} (as root), or use a --home of your own`,
    };
  }
  const sticky = (st.mode & 0o1000) !== 0;
  if ((st.mode & 0o022) !== 0 && !(expect === 'ancestor' && st.isDirectory() && sticky)) {
    return { message: `${p} can be changed by other users (mode ${(st.mode & 0o7777).toString(8)})`, fix: `chmod go-w ${p}` };
  }
  return undefined;
}

export interface HomeProblem {
  path: string;
  message: string;
  fix: string;
}

/** Every problem of the installation's folders and files; [] when trusted (or on Windows). */
export function homeProblems(paths: Paths, asUid?: number): HomeProblem[] {
  const me = asUid ?? uid();
  if (me === undefined) return [];
  const out: HomeProblem[] = [];
  const seen = new Set<string>();
  const check = (p: string, expect: 'dir' | 'file' | 'ancestor') => {
    if (seen.has(p)) return;
    seen.add(p);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return; // not there (yet): created by us with safe modes
    }
    const problem = problemOf(p, st, me, expect);
    if (problem) out.push({ path: p, ...problem });
  };
  for (const dir of new Set([paths.configDir, paths.dataDir])) {
    // The folders above the home: resolved, since a link like /home → /usr/home is the system's.
    let real: string;
    try {
      real = fs.realpathSync(path.dirname(dir));
    } catch {
      real = path.dirname(dir);
    }
    const parts: string[] = [];
    for (let p = real; ; p = path.dirname(p)) {
      parts.unshift(p);
      if (path.dirname(p) === p) break;
    }
    for (const p of parts) check(p, 'ancestor');
    check(dir, 'dir');
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      /* missing or unreadable: nothing to check inside */
    }
    for (const name of names) check(path.join(dir, name), 'file');
  }
  for (const sub of [paths.lockDir]) {
    let names: string[] = [];
    try {
      if (!fs.lstatSync(sub).isDirectory()) continue;
      names = fs.readdirSync(sub);
    } catch {
      continue;
    }
    for (const name of names) check(path.join(sub, name), 'file');
  }
  return out;
}

export class UntrustedHomeError extends ConfigError {}

/** Throws (exit 2) naming every problem and its fix; nothing is read or written before. */
export function assertTrustedHome(paths: Paths): void {
  const problems = homeProblems(paths);
  if (!problems.length) return;
  throw new UntrustedHomeError(
    'sync-cli refuses to use this installation folder: other users could change what it reads or writes there',
    problems.map((p) => `${p.message} — fix: ${p.fix}`),
    'fix each line above, then run the command again (`sync-cli doctor` checks it)',
  );
}

/**
 * Writes a private file (0600) atomically without following a symlink at the target: the
 * content goes to a fresh temporary file created with O_EXCL|O_NOFOLLOW in the same folder,
 * is flushed, then renamed over the target (rename replaces a link, never writes through it).
 * write-file-atomic resolves symlinks on purpose, so it is not used for files in the home.
 */
export function writePrivateFile(file: string, content: string | Buffer, mode = 0o600): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  let existing: fs.Stats | undefined;
  try {
    existing = fs.lstatSync(file);
  } catch {
    existing = undefined;
  }
  if (existing && !existing.isFile()) {
    throw new ConfigError(`${file} is ${existing.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}; sync-cli does not write through it`, [], `remove it (rm ${file}) and run the command again`);
  }
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW, mode);
  try {
    fs.fchmodSync(fd, mode); // the umask never widens or narrows it
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Reads a regular file without following a symlink and without blocking on a FIFO or device;
 * at most `maxBytes` (a longer file is an error). ENOENT is passed through.
 */
export function readRegularFile(file: string, maxBytes: number): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | O_NOFOLLOW | (fs.constants.O_NONBLOCK ?? 0));
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw Object.assign(new Error(`${file} is not a regular file`), { code: 'ENOTREG' });
    if (st.size > maxBytes) throw Object.assign(new Error(`${file} is larger than ${maxBytes} bytes`), { code: 'EFBIG' });
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = fs.readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return off === st.size ? buf : buf.subarray(0, off);
  } finally {
    fs.closeSync(fd);
  }
}
