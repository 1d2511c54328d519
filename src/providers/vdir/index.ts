// A mailbox in a local folder, laid out as vdirsyncer, khard and khal read it: one subfolder per
// collection (its name in a `displayname` file), one file per item. Used for offline use, exports
// and fast engine tests. ETags are content hashes, so they survive copies and touch(1).
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { SyncCliError } from '../../errors.js';
import { MissingEtagError, PreconditionFailedError } from '../dav/errors.js';
import { safeFileName } from '../dav/href.js';
import type { CollectionDelta, CollectionKind, CollectionRef, DavItem, ItemRef, MailboxProvider, ProbeResult } from '../dav/types.js';

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

export class VdirMailbox implements MailboxProvider {
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The absolute path of an href, refusing anything outside the root (a crafted state file). */
  private inside(path: string): string {
    const abs = resolve(path);
    if (abs !== this.root && !abs.startsWith(this.root + sep)) throw new VdirError(`${path} is outside the vdir ${this.root}`);
    return abs;
  }

  private folderRef(kind: CollectionKind, folder: string, displayName: string): CollectionRef {
    return { kind, url: this.inside(folder) + sep, displayName, supportsSyncToken: false };
  }

  private async displayNameOf(folder: string): Promise<string | undefined> {
    try {
      return (await fs.readFile(join(folder, 'displayname'), 'utf8')).trim();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async provision(names: Record<CollectionKind, string>, known: Partial<Record<CollectionKind, string>> = {}): Promise<Record<CollectionKind, CollectionRef>> {
    await fs.mkdir(this.root, { recursive: true });
    const out: Partial<Record<CollectionKind, CollectionRef>> = {};
    for (const kind of ['contacts', 'appointments', 'tasks'] as const) {
      const knownFolder = known[kind];
      if (knownFolder) {
        const stat = await fs.stat(this.inside(knownFolder)).catch(() => undefined);
        if (stat?.isDirectory()) {
          out[kind] = this.folderRef(kind, knownFolder, (await this.displayNameOf(knownFolder)) ?? names[kind]);
          continue;
        }
      }
      let found: string | undefined;
      for (const entry of await fs.readdir(this.root, { withFileTypes: true })) {
        if (entry.isDirectory() && (await this.displayNameOf(join(this.root, entry.name))) === names[kind]) {
          found = join(this.root, entry.name);
          break;
        }
      }
      if (!found) {
        found = join(this.root, safeFileName(names[kind].replace(/\s+/g, '-')));
        if (await fs.stat(found).catch(() => undefined)) found = join(this.root, `${kind}-${randomBytes(4).toString('hex')}`);
        await fs.mkdir(found, { recursive: true });
        await writeFileAtomic(join(found, 'displayname'), names[kind] + '\n');
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
  async delta(collection: CollectionRef, token: string | null): Promise<CollectionDelta> {
    const folder = this.inside(collection.url);
    const names = (await this.itemNames(folder)).sort();
    const stats = await Promise.all(names.map(async (n) => ({ n, s: await fs.stat(join(folder, n)) })));
    const fingerprint = createHash('sha256');
    for (const { n, s } of stats) fingerprint.update(`${n}\0${s.size}\0${s.mtimeMs}\n`);
    const newToken = `vdir:${fingerprint.digest('hex').slice(0, 32)}`;
    if (token === newToken) return { changed: [], deleted: [], full: false, token };
    const changed: ItemRef[] = [];
    for (const n of names) {
      try {
        changed.push({ href: join(folder, n), etag: etagOf(await fs.readFile(join(folder, n))) });
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err; // deleted while listing: simply absent
      }
    }
    return { changed, deleted: [], full: true, token: newToken };
  }

  async fetch(_collection: CollectionRef, hrefs: string[]): Promise<{ items: DavItem[]; missing: string[] }> {
    const items: DavItem[] = [];
    const missing: string[] = [];
    for (const href of hrefs) {
      try {
        const buf = await fs.readFile(this.inside(href));
        items.push({ href, etag: etagOf(buf), data: buf.toString('utf8') });
      } catch (err) {
        if (isErrno(err, 'ENOENT')) missing.push(href);
        else throw err;
      }
    }
    return { items, missing };
  }

  private async currentEtag(path: string): Promise<string | undefined> {
    try {
      return etagOf(await fs.readFile(path));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async create(collection: CollectionRef, name: string, data: string, _contentType: string): Promise<ItemRef> {
    const folder = this.inside(collection.url);
    const target = join(folder, safeFileName(name));
    // Write aside, then hard-link into place: atomic, and fails when the name exists (If-None-Match: *).
    const tmp = join(folder, `.tmp-${randomBytes(6).toString('hex')}`);
    await fs.writeFile(tmp, data);
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
    await writeFileAtomic(path, data);
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
    await fs.mkdir(this.root, { recursive: true });
    return { principal: this.root };
  }

  async close(): Promise<void> {}
}

export function openVdirMailbox(root: string): MailboxProvider {
  return new VdirMailbox(root);
}
