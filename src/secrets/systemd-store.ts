// systemd credentials for the system service: `assign` encrypts the password with
// `systemd-creds encrypt` (host key and/or TPM) into <dataDir>/credentials/<name>.cred; the
// unit loads it with `LoadCredentialEncrypted=<name>:<file>` and the daemon reads the plain
// text from $CREDENTIALS_DIRECTORY/<name>. Outside the unit (doctor, run --once as root) the
// file is decrypted with `systemd-creds decrypt`.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { CredentialStoreError, type CredentialStore, type StoreAvailability } from './store.js';

const execFileAsync = promisify(execFile);

/** `mailbox:u-1` → `sync-cli-mailbox-u-1` (credential names must be plain file names). */
export function systemdCredentialName(ref: string): string {
  return 'sync-cli-' + ref.replace(/[^A-Za-z0-9_.-]/g, '-');
}

export class SystemdCredentialStore implements CredentialStore {
  readonly kind = 'systemd' as const;
  constructor(
    readonly dir: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** The encrypted file `assign` writes for `ref`. */
  fileFor(ref: string): string {
    return path.join(this.dir, `${systemdCredentialName(ref)}.cred`);
  }

  /** The unit file line that hands this credential to the daemon. */
  unitLine(ref: string): string {
    return `LoadCredentialEncrypted=${systemdCredentialName(ref)}:${this.fileFor(ref)}`;
  }

  async get(ref: string): Promise<string | null> {
    const name = systemdCredentialName(ref);
    const credDir = this.env.CREDENTIALS_DIRECTORY;
    if (credDir) {
      try {
        return fs.readFileSync(path.join(credDir, name), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CredentialStoreError(`Cannot read credential ${name} from $CREDENTIALS_DIRECTORY`, 'Check the LoadCredentialEncrypted= lines of the unit.', err);
      }
    }
    const file = this.fileFor(ref);
    if (!fs.existsSync(file)) return null;
    try {
      const { stdout } = await execFileAsync('systemd-creds', ['decrypt', `--name=${name}`, file, '-'], { encoding: 'utf8', timeout: 15_000 });
      return stdout;
    } catch (err) {
      throw new CredentialStoreError(
        `systemd-creds could not decrypt ${file}: ${firstLine(err)}`,
        `Run as root (the host key is root's), or add "${this.unitLine(ref)}" to the unit so the daemon gets it in $CREDENTIALS_DIRECTORY.`,
      );
    }
  }

  async set(ref: string, secret: string): Promise<void> {
    const name = systemdCredentialName(ref);
    const file = this.fileFor(ref);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // The secret goes through stdin, never argv (visible in ps).
    await new Promise<void>((resolve, reject) => {
      const child = spawn('systemd-creds', ['encrypt', `--name=${name}`, '-', file], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (err) => reject(new CredentialStoreError(`Cannot run systemd-creds: ${err.message}`, 'Install systemd ≥ 250, or use --credential-store file.')));
      child.on('close', (code) => {
        if (code === 0) return resolve();
        const reason = stderr.split('\n').filter((l) => l && !/not located on encrypted media/.test(l))[0] ?? `exit ${code}`;
        reject(new CredentialStoreError(`systemd-creds encrypt failed: ${reason}`, 'Run as root (the system service stores credentials with the host key), or use --credential-store file.'));
      });
      child.stdin.end(secret);
    });
    fs.chmodSync(file, 0o600);
  }

  async delete(ref: string): Promise<void> {
    fs.rmSync(this.fileFor(ref), { force: true });
  }

  async available(): Promise<StoreAvailability> {
    try {
      await execFileAsync('systemd-creds', ['--version'], { timeout: 5000 });
    } catch (err) {
      return { ok: false, detail: `systemd-creds is not available: ${firstLine(err)}` };
    }
    return { ok: true, detail: `encrypted files in ${this.dir}${this.env.CREDENTIALS_DIRECTORY ? ', loaded via $CREDENTIALS_DIRECTORY' : ''}` };
  }

  describe(ref: string): string {
    return `systemd credential ${systemdCredentialName(ref)} (${this.fileFor(ref)})`;
  }
}

function firstLine(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(err)).split('\n').find((l) => l.trim() && !/not located on encrypted media/.test(l)) ?? 'unknown error';
}
