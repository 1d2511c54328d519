// A JSON file `{ "<ref>": "<secret>" }` under the data dir, mode 0600, holding nothing but
// secrets. The fallback when no keychain answers.
//
// Read once per process and again only when the file changed (inode, size, mtime or ctime in
// nanoseconds): a daemon asks for one password per mailbox sync, and re-parsing the whole file
// each time made that cost grow with N² (issue #16). An edit by another process (`users assign`
// elsewhere) replaces or rewrites the file, which changes at least one of those.
import fs from 'node:fs';
import { readRegularFile, writePrivateFile } from '../config/home.js';
import { CredentialStoreError, type CredentialStore, type StoreAvailability } from './store.js';

interface Parsed {
  stamp: string;
  data: Readonly<Record<string, string>>;
}

/** Per file path, for the whole process (every store instance on one file shares it). */
const parsedFiles = new Map<string, Parsed>();

function stampOf(file: string): string | null {
  try {
    const st = fs.lstatSync(file, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.mode}`;
  } catch {
    return null;
  }
}

export class FileCredentialStore implements CredentialStore {
  readonly kind = 'file' as const;
  constructor(readonly file: string) {}

  private read(): Readonly<Record<string, string>> {
    const stamp = stampOf(this.file);
    const cached = parsedFiles.get(this.file);
    if (stamp !== null && cached?.stamp === stamp) return cached.data;
    const data = Object.freeze(this.parse());
    // Taken before the read: a change during the read makes the next call read again.
    if (stamp !== null) parsedFiles.set(this.file, { stamp, data });
    else parsedFiles.delete(this.file);
    return data;
  }

  private parse(): Record<string, string> {
    let text: string;
    try {
      text = readRegularFile(this.file, 1024 * 1024).toString('utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return {};
      if (code === 'ELOOP' || code === 'ENOTREG') {
        throw new CredentialStoreError(`The secrets file ${this.file} is a link or not a regular file; sync-cli does not follow it`, `Remove it (rm ${this.file}) and assign the mailboxes again.`);
      }
      throw new CredentialStoreError(`Cannot read the secrets file ${this.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, 'Check that the file belongs to the user running sync-cli.');
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      // The parse error message would quote the file's contents, i.e. secrets.
      throw new CredentialStoreError(`The secrets file ${this.file} is not valid JSON`, 'Move it away and assign the mailboxes again (sync-cli users assign …).');
    }
    if (!data || typeof data !== 'object' || Array.isArray(data) || Object.values(data).some((v) => typeof v !== 'string')) {
      throw new CredentialStoreError(`The secrets file ${this.file} is not an object of strings`, 'Move it away and assign the mailboxes again (sync-cli users assign …).');
    }
    return data as Record<string, string>;
  }

  private write(data: Record<string, string>): void {
    // Never through a symlink planted in place of the file (docs/security.md); always 0600.
    parsedFiles.delete(this.file);
    writePrivateFile(this.file, JSON.stringify(data, null, 2) + '\n');
  }

  async get(ref: string): Promise<string | null> {
    return this.read()[ref] ?? null;
  }

  async set(ref: string, secret: string): Promise<void> {
    const data = { ...this.read() };
    data[ref] = secret;
    this.write(data);
  }

  async delete(ref: string): Promise<void> {
    const data = { ...this.read() };
    if (!(ref in data)) return;
    delete data[ref];
    this.write(data);
  }

  async available(): Promise<StoreAvailability> {
    try {
      const st = fs.statSync(this.file);
      if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
        return { ok: false, detail: `${this.file} has mode ${(st.mode & 0o777).toString(8)}; run: chmod 600 ${this.file}` };
      }
      this.read();
      return { ok: true, detail: `${this.file} (mode 600)` };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, detail: `${this.file} (created on first assign)` };
      return { ok: false, detail: (err as Error).message };
    }
  }

  describe(ref: string): string {
    return `${this.file} key "${ref}"`;
  }
}
