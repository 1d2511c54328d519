// The per-mailbox lock file of a local state (R24): one holder at a time across processes and
// within one; what happens when its folder or file is removed behind the holder's back.
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { acquireLock, MailboxLockedError } from '../../src/sync/lock.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const lockDir = () => {
  const root = mkdtempSync(join(tmpdir(), 'sync-cli-lock-'));
  dirs.push(root);
  return join(root, 'locks');
};

it('R24: a second holder in the same process is refused until the first releases', () => {
  const dir = lockDir();
  const first = acquireLock(dir, 'mailbox-u1');
  expect(readFileSync(join(dir, 'mailbox-u1.lock'), 'utf8')).toBe(String(process.pid));
  expect(() => acquireLock(dir, 'mailbox-u1')).toThrow(MailboxLockedError);
  first.release();
  expect(existsSync(join(dir, 'mailbox-u1.lock'))).toBe(false);
  acquireLock(dir, 'mailbox-u1').release();
});

it('R24: the lock folder removed while the process runs is made again at the next lock', () => {
  const dir = lockDir();
  acquireLock(dir, 'mailbox-u2').release();
  rmSync(dir, { recursive: true, force: true });
  const again = acquireLock(dir, 'mailbox-u2');
  expect(existsSync(join(dir, 'mailbox-u2.lock'))).toBe(true);
  again.release();
});

it('R24: a release does not remove a lock file another process made after ours was removed', () => {
  const dir = lockDir();
  const held = acquireLock(dir, 'mailbox-u3');
  const file = join(dir, 'mailbox-u3.lock');
  unlinkSync(file);
  writeFileSync(file, '999999'); // another holder's file (a pid that does not run here)
  held.release();
  expect(readFileSync(file, 'utf8')).toBe('999999');
  // A file of a process that is gone is taken over.
  const taken = acquireLock(dir, 'mailbox-u3');
  expect(readFileSync(file, 'utf8')).toBe(String(process.pid));
  taken.release();
});
