// A mailbox in a local folder, laid out as vdirsyncer, khard and khal read it: one subfolder per
// collection (its name in a `displayname` file), one file per item. Used for offline use, exports
// and fast engine tests. ETags are content hashes, so they survive copies and touch(1).
//
// Hardened against a folder other local users or programs may have touched (docs/security.md):
// only regular files are read, never through a link, never more than the limit (a FIFO or a
// link to /dev/zero is an item error, not a hang); the whole tree — collection folders too —
// must stay inside the root after resolving links; new folders are 0700 and items 0600.
import { createHash, randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { SyncCliError } from '../../errors.js';
import { DEFAULT_LIMITS } from '../dav/types.js';
import { ItemRejectedError, MissingEtagError, PreconditionFailedError } from '../dav/errors.js';
import { safeFileName } from '../dav/href.js';
import type { CollectionDelta, CollectionKind, CollectionRef, DavItem, FetchResult, ItemRef, MailboxProvider, ProbeResult } from '../dav/types.js';

/** Files vdirsyncer keeps next to the items; they are collection metadata, not items. */
const METADATA_FILES = new Set(['displayname', 'color', 'description', 'meta']);

function isItemFile(name: string): boolean {
  return !name.startsWith('.') && !METADATA_FILES.has(name);
}

function etagOf(data: Buffer | string): string {
  return `"${createHash('sha256').update(data).digest('hex').slice(0, 32)}"`;
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === code;
}

export class VdirError extends SyncCliError {
  constructor(message: string, remedy?: string) {
    super(message, { exitCode: 2, remedy });
  }
}

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const NONBLOCK = constants.O_NONBLOCK ?? 0;
/** Metadata files (displayname, color) are one short line. */
const MAX_META_BYTES = 4096;

export interface VdirOptions {
  /** Largest item file read (limits.maxResponseBytes). */
  maxItemBytes?: number;
  /** Items one folder may hold (limits.maxItemsPerMailbox). */
  maxItems?: number;
}

/**
 * Reads a regular file without following a link and without blocking on a FIFO or device.
 * Throws errno-style errors: ENOENT, ELOOP (a link), ENOTREG (FIFO, device, folder), EFBIG.
 */
async function readRegular(path: string, maxBytes: number): Promise<Buffer> {
  const handle = await fs.open(path, constants.O_RDONLY | NOFOLLOW | NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'ENOTREG' });
    if (st.size > maxBytes) throw Object.assign(new Error(`${path} is larger than ${maxBytes} bytes`), { code: 'EFBIG' });
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const { bytesRead } = await handle.read(buf, off, st.size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return off === st.size ? buf : buf.subarray(0, off);
  } finally {
    await handle.close();
  }
}

/** Why a file is not read as an item, in words; undefined for other errors. */
function unreadableReason(err: unknown, maxBytes: number): string | undefined {
  if (isErrno(err, 'ELOOP')) return 'it is a symbolic link; sync-cli reads only regular files in a vdir';
  if (isErrno(err, 'ENOTREG')) return 'it is not a regular file (a FIFO, device or folder); sync-cli reads only regular files';
  if (isErrno(err, 'EFBIG')) return `it is larger than limits.maxResponseBytes = ${maxBytes} bytes`;
  return undefined;
}

/** Writes a file atomically (temp file + rename), never through a link, with mode 0600. */
async function writeItemFile(path: string, data: string, dir: string): Promise<void> {
  const tmp = join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
  const handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export class VdirMailbox implements MailboxProvider {
  private readonly root: string;
  private realRoot: string | undefined;
  private readonly maxItemBytes: number;
  private readonly maxItems: number;

  constructor(root: string, opts: VdirOptions = {}) {
    this.root = resolve(root);
    this.maxItemBytes = opts.maxItemBytes ?? DEFAULT_LIMITS.maxResponseBytes;
    this.maxItems = opts.maxItems ?? DEFAULT_LIMITS.maxItemsPerMailbox;
  }

  /** The absolute path of an href, refusing anything outside the root (a crafted state file). */
  private inside(path: string): string {
    const abs = resolve(path);
    if (abs !== this.root && !abs.startsWith(this.root + sep)) throw new VdirError(`${path} is outside the vdir ${this.root}`);
    return abs;
  }

  /**
   * A collection folder, checked after resolving links: it must lie inside the root's real
   * path (a folder linked to /etc or another user's home is refused, whatever its name says).
   */
  private async folderInside(folder: string): Promise<string> {
    const abs = this.inside(folder);
    this.realRoot ??= await fs.realpath(this.root);
    let real: string;
    try {
      real = await fs.realpath(abs);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return abs;
      throw err;
    }
    if (real !== this.realRoot && !real.startsWith(this.realRoot + sep)) {
      throw new VdirError(`the vdir collection ${abs} leads outside the vdir ${this.root} (to ${real})`, `remove the link: rm ${abs} — sync-cli re-creates the collection`);
    }
    return abs;
  }

  private folderRef(kind: CollectionKind, folder: string, displayName: string): CollectionRef {
    return { kind, url: this.inside(folder) + sep, displayName, supportsSyncToken: false };
  }

  /** The folder's displayname file: a short regular file, or none (a link, FIFO or huge file counts as none). */
  private async displayNameOf(folder: string): Promise<string | undefined> {
    try {
      return (await readRegular(join(folder, 'displayname'), MAX_META_BYTES)).toString('utf8').trim();
    } catch (err) {
      if (isErrno(err, 'ENOENT') || unreadableReason(err, MAX_META_BYTES)) return undefined;
      throw err;
    }
  }

  async provision(names: Record<CollectionKind, string>, known: Partial<Record<CollectionKind, string>> = {}): Promise<Record<CollectionKind, CollectionRef>> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    const out: Partial<Record<CollectionKind, CollectionRef>> = {};
    for (const kind of ['contacts', 'appointments', 'tasks'] as const) {
      const knownFolder = known[kind];
      if (knownFolder) {
        const stat = await fs.lstat(await this.folderInside(knownFolder)).catch(() => undefined);
        if (stat?.isDirectory()) {
          out[kind] = this.folderRef(kind, knownFolder, (await this.displayNameOf(knownFolder)) ?? names[kind]);
          continue;
        }
      }
      let found: string | undefined;
      for (const entry of await fs.readdir(this.root, { withFileTypes: true })) {
        // Real folders only (Dirent does not follow links): a link to elsewhere is never a collection.
        if (entry.isDirectory() && (await this.displayNameOf(join(this.root, entry.name))) === names[kind]) {
          found = join(this.root, entry.name);
          break;
        }
      }
      if (!found) {
        found = join(this.root, safeFileName(names[kind].replace(/\s+/g, '-')));
        if (await fs.stat(found).catch(() => undefined)) found = join(this.root, `${kind}-${randomBytes(4).toString('hex')}`);
        await fs.mkdir(found, { recursive: true, mode: 0o700 });
        await writeItemFile(join(found, 'displayname'), names[kind] + '\n', found);
      }
      out[kind] = this.folderRef(kind, found, names[kind]);
    }
    return out as Record<CollectionKind, CollectionRef>;
  }

  private async itemNames(folder: string): Promise<string[]> {
    try {
      const entries = await fs.readdir(folder, { withFileTypes: true });
      return entries.filter((e) => e.isFile() && isItemFile(e.name)).map((e) => e.name);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new VdirError(`the vdir collection ${folder} does not exist`, 'run the sync again: it re-creates the collection');
      throw err;
    }
  }

  /**
   * A folder has no change log: the token is a hash over names, sizes and mtimes, so an
   * unchanged folder costs one readdir + stats, and any change yields a full listing to diff.
   */
  async deltas(requests: { collection: CollectionRef; token: string | null }[]): Promise<CollectionDelta[]> {
    const out: CollectionDelta[] = [];
    for (const { collection, token } of requests) out.push(await this.delta(collection, token));
    return out;
  }

  async delta(collection: CollectionRef, token: string | null): Promise<CollectionDelta> {
    const folder = await this.folderInside(collection.url);
    const names = (await this.itemNames(folder)).sort();
    if (names.length > this.maxItems) {
      throw new VdirError(`the vdir collection ${folder} holds ${names.length} items, more than limits.maxItemsPerMailbox = ${this.maxItems}`, 'raise limits.maxItemsPerMailbox in config.json if that is intended');
    }
    const stats = await Promise.all(names.map(async (n) => ({ n, s: await fs.lstat(join(folder, n)) })));
    const fingerprint = createHash('sha256');
    for (const { n, s } of stats) fingerprint.update(`${n}\0${s.size}\0${s.mtimeMs}\n`);
    const newToken = `vdir:${fingerprint.digest('hex').slice(0, 32)}`;
    if (token === newToken) return { changed: [], deleted: [], full: false, token };
    const changed: ItemRef[] = [];
    const refused: { href: string; message: string }[] = [];
    for (const n of names) {
      try {
        changed.push({ href: join(folder, n), etag: etagOf(await readRegular(join(folder, n), this.maxItemBytes)) });
      } catch (err) {
        const why = unreadableReason(err, this.maxItemBytes);
        if (why) refused.push({ href: join(folder, n), message: `${join(folder, n)} is not read: ${why}` });
        else if (!isErrno(err, 'ENOENT')) throw err; // deleted while listing: simply absent
      }
    }
    return { changed, deleted: [], full: true, token: newToken, ...(refused.length ? { refused } : {}) };
  }

  async fetch(_collection: CollectionRef, hrefs: string[]): Promise<FetchResult> {
    const items: DavItem[] = [];
    const missing: string[] = [];
    const failed: { href: string; message: string }[] = [];
    for (const href of hrefs) {
      try {
        const buf = await readRegular(this.inside(href), this.maxItemBytes);
        items.push({ href, etag: etagOf(buf), data: buf.toString('utf8') });
      } catch (err) {
        const why = unreadableReason(err, this.maxItemBytes);
        if (isErrno(err, 'ENOENT')) missing.push(href);
        else if (why) failed.push({ href, message: why });
        else throw err;
      }
    }
    return { items, missing, ...(failed.length ? { failed } : {}) };
  }

  private async currentEtag(path: string): Promise<string | undefined> {
    try {
      return etagOf(await readRegular(path, this.maxItemBytes));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      const why = unreadableReason(err, this.maxItemBytes);
      if (why) throw new ItemRejectedError(path, 0, 'write', `sync-cli does not replace ${path}: ${why}`);
      throw err;
    }
  }

  async create(collection: CollectionRef, name: string, data: string, _contentType: string): Promise<ItemRef> {
    const folder = await this.folderInside(collection.url);
    const target = join(folder, safeFileName(name));
    // Write aside, then hard-link into place: atomic, and fails when the name exists (If-None-Match: *).
    const tmp = join(folder, `.tmp-${randomBytes(6).toString('hex')}`);
    const handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
    try {
      await handle.chmod(0o600);
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
    try {
      await fs.link(tmp, target);
    } catch (err) {
      if (isErrno(err, 'EEXIST')) throw new PreconditionFailedError(target, 'create');
      throw err;
    } finally {
      await fs.unlink(tmp).catch(() => undefined);
    }
    return { href: target, etag: etagOf(data) };
  }

  async update(ref: ItemRef, data: string, _contentType: string): Promise<ItemRef> {
    if (!ref.etag) throw new MissingEtagError(ref.href);
    const path = this.inside(ref.href);
    // Check-then-rename is not atomic against another local writer; good enough for one user's folder.
    if ((await this.currentEtag(path)) !== ref.etag) throw new PreconditionFailedError(ref.href, 'update');
    await writeItemFile(path, data, await this.folderInside(resolve(path, '..')));
    return { href: ref.href, etag: etagOf(data) };
  }

  async remove(ref: ItemRef): Promise<void> {
    if (!ref.etag) throw new MissingEtagError(ref.href);
    const path = this.inside(ref.href);
    const current = await this.currentEtag(path);
    if (current === undefined) return;
    if (current !== ref.etag) throw new PreconditionFailedError(ref.href, 'delete');
    await fs.unlink(path).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw err;
    });
  }

  async probe(): Promise<ProbeResult> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    return { principal: this.root };
  }

  async close(): Promise<void> {}
}

export function openVdirMailbox(root: string, opts: VdirOptions = {}): MailboxProvider {
  return new VdirMailbox(root, opts);
}
