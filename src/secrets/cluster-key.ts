// The cluster key (issue #16, D70): mailbox passwords kept in the shared state database are
// sealed with AES-256-GCM under a key every host reads from its own credential store — a
// systemd credential, SYNC_CLI_CLUSTER_KEY, a 0600 file in the home, or the OS keychain, in that
// order. A sealed value names the key it was sealed under (key id), so a key can be rotated: the
// key material holds the current key first and older ones after it, for opening only.
// Nothing here writes anything but `writeClusterKeyFile`; no message ever holds a key or a
// ciphertext.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Paths } from '../config/paths.js';
import { readRegularFile, writePrivateFile } from '../config/home.js';
import { ConfigError } from '../errors.js';
import { registerSecret } from '../log/redact.js';
import { KeychainCredentialStore } from './keychain-store.js';
import type { CredentialStore } from './store.js';

/** The credential name: systemd `LoadCredentialEncrypted=sync-cli-cluster-key:…`. */
export const CLUSTER_KEY_CREDENTIAL = 'sync-cli-cluster-key';
export const CLUSTER_KEY_ENV = 'SYNC_CLI_CLUSTER_KEY';
/** Account of the key in the OS keychain (service "sync-cli"). */
export const CLUSTER_KEY_KEYCHAIN_REF = 'cluster-key';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const FORMAT = 'sc1';

export type ClusterKeySourceKind = 'systemd' | 'env' | 'file' | 'keychain';

export interface ClusterKeySource {
  kind: ClusterKeySourceKind;
  /** Where it was read, for messages: a path, a variable name, a keychain entry. */
  where: string;
}

/** The 0600 file in the home that holds the key when no other store does. */
export function clusterKeyFile(paths: Paths): string {
  return path.join(paths.dataDir, 'cluster-key');
}

/** A problem with the cluster key or with a value sealed under it (exit 2, with the fix). A
 *  configuration error, so a mailbox that meets it fails hard: no retry until the key is fixed. */
export class ClusterKeyError extends ConfigError {
  constructor(message: string, remedy: string) {
    super(message, [], remedy);
    this.name = 'ClusterKeyError';
  }
}

const INSTALL_FIX =
  `Give this host the cluster's key: as a systemd credential (LoadCredentialEncrypted=${CLUSTER_KEY_CREDENTIAL}:…, docs/scale-out.md), ` +
  `in ${CLUSTER_KEY_ENV}, or as a 0600 file; a new cluster makes one with \`sync-cli cluster key generate\`.`;

/** A short public id of a key (not the key: 48 bits of a hash), stored with every sealed value. */
export function clusterKeyId(key: Buffer): string {
  return createHash('sha256').update('sync-cli cluster key id\0').update(key).digest('hex').slice(0, 12);
}

/** A new random key, base64 (what the file, the variable and the credential hold). */
export function generateClusterKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/** Key material: one base64 key per line, the current one first; `#` comments and blank lines are ignored. */
export function parseClusterKeyMaterial(text: string, source: ClusterKeySource): Buffer[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (!lines.length) throw new ClusterKeyError(`The cluster key in ${source.where} is empty`, INSTALL_FIX);
  return lines.map((line, i) => {
    const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(line) ? Buffer.from(line, 'base64') : Buffer.alloc(0); // Node reads base64url here too
    if (key.length !== KEY_BYTES) {
      throw new ClusterKeyError(
        `The cluster key in ${source.where}${lines.length > 1 ? ` (line ${i + 1})` : ''} is not a key: expected ${KEY_BYTES} bytes in base64, found ${key.length ? `${key.length} bytes` : 'other text'}`,
        `Put the key exactly as \`sync-cli cluster key generate\` printed it there. ${INSTALL_FIX}`,
      );
    }
    registerSecret(line);
    return key;
  });
}

/** The keys of this host: seals under the first, opens with any of them. */
export class ClusterKeyring {
  readonly currentId: string;
  private readonly byId: Map<string, Buffer>;

  constructor(
    keys: Buffer[],
    readonly source: ClusterKeySource,
  ) {
    if (!keys.length) throw new ClusterKeyError(`No cluster key in ${source.where}`, INSTALL_FIX);
    this.byId = new Map(keys.map((k) => [clusterKeyId(k), k]));
    this.currentId = clusterKeyId(keys[0]!);
  }

  /** `context` (e.g. `mailbox:u-1`) is bound into the tag: a sealed value moved to another row does not open. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.byId.get(this.currentId)!, iv);
    cipher.setAAD(Buffer.from(`${FORMAT}\0${this.currentId}\0${context}`));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [FORMAT, this.currentId, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join(':');
  }

  open(sealed: string, context: string): string {
    const parts = sealed.split(':');
    if (parts.length !== 5 || parts[0] !== FORMAT) {
      throw new ClusterKeyError(`The stored secret for ${context} is not a value sealed by sync-cli (damaged or written by something else)`, storeAgain(context));
    }
    const [, kid, iv, tag, ct] = parts as [string, string, string, string, string];
    const key = this.byId.get(kid);
    if (!key) {
      throw new ClusterKeyError(
        `The secret for ${context} was sealed under cluster key ${kid}, but the key this host read from ${this.source.where} is ${this.currentId}; this host cannot open it`,
        `${INSTALL_FIX} During a rotation, list the old key on a line after the new one.`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(`${FORMAT}\0${kid}\0${context}`));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const plain = Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
      registerSecret(plain);
      return plain;
    } catch {
      throw new ClusterKeyError(
        `The secret for ${context} does not verify under cluster key ${kid} (read from ${this.source.where}): it was changed or damaged where it is stored`,
        storeAgain(context),
      );
    }
  }
}

/** The id of the key a value was sealed under (public, as stored next to it); '' for what is no sealed value. */
export function sealedKeyId(sealed: string): string {
  const parts = sealed.split(':');
  return parts.length === 5 && parts[0] === FORMAT ? parts[1]! : '';
}

function storeAgain(context: string): string {
  const user = context.replace(/^mailbox:/, '');
  return `Store the password again: sync-cli users passwd ${user} --password-stdin`;
}

export interface LoadClusterKeyOptions {
  env?: NodeJS.ProcessEnv;
  /** The OS keychain to ask last; null skips it. Default: the real keychain. */
  keychain?: CredentialStore | null;
}

/**
 * The cluster key of this host, from the first source that has one. A source that has a key
 * but a bad one (wrong length, a file others can read) is an error naming that source — the
 * next source is not tried, so a host never runs on a key other than the one it was given.
 */
export async function loadClusterKey(paths: Paths, options: LoadClusterKeyOptions = {}): Promise<ClusterKeyring> {
  const env = options.env ?? process.env;
  const tried: string[] = [];

  const credDir = env.CREDENTIALS_DIRECTORY;
  if (credDir) {
    const file = path.join(credDir, CLUSTER_KEY_CREDENTIAL);
    const text = readKeyFile(file, false);
    const source: ClusterKeySource = { kind: 'systemd', where: `systemd credential ${CLUSTER_KEY_CREDENTIAL} ($CREDENTIALS_DIRECTORY)` };
    if (text !== null) return new ClusterKeyring(parseClusterKeyMaterial(text, source), source);
    tried.push(`${source.where}: not loaded`);
  } else {
    tried.push(`systemd credential ${CLUSTER_KEY_CREDENTIAL}: no $CREDENTIALS_DIRECTORY`);
  }

  const fromEnv = env[CLUSTER_KEY_ENV];
  if (fromEnv) {
    const source: ClusterKeySource = { kind: 'env', where: `environment variable ${CLUSTER_KEY_ENV}` };
    return new ClusterKeyring(parseClusterKeyMaterial(fromEnv, source), source);
  }
  tried.push(`${CLUSTER_KEY_ENV}: not set`);

  const file = clusterKeyFile(paths);
  const text = readKeyFile(file, true);
  if (text !== null) {
    const source: ClusterKeySource = { kind: 'file', where: file };
    return new ClusterKeyring(parseClusterKeyMaterial(text, source), source);
  }
  tried.push(`${file}: no such file`);

  const keychain = options.keychain === undefined ? new KeychainCredentialStore() : options.keychain;
  if (keychain) {
    const where = keychain.describe(CLUSTER_KEY_KEYCHAIN_REF);
    try {
      const secret = await keychain.get(CLUSTER_KEY_KEYCHAIN_REF);
      if (secret) return new ClusterKeyring(parseClusterKeyMaterial(secret, { kind: 'keychain', where }), { kind: 'keychain', where });
      tried.push(`${where}: no entry`);
    } catch (err) {
      if (err instanceof ClusterKeyError) throw err;
      tried.push(`OS keychain: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new ClusterKeyError(`No cluster key on this host; looked in: ${tried.join('; ')}`, INSTALL_FIX);
}

/** The key file's text, or null when absent. A file others may read is refused (with the fix). */
function readKeyFile(file: string, checkMode: boolean): string | null {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ClusterKeyError(`Cannot read the cluster key file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, 'Check that it belongs to the user running sync-cli.');
  }
  if (checkMode && process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new ClusterKeyError(
      `The cluster key file ${file} has mode ${(st.mode & 0o777).toString(8)}: other users can read it, so sync-cli does not use it`,
      `Run: chmod 600 ${file} (and, if others could read it, make a new key for the cluster)`,
    );
  }
  try {
    return readRegularFile(file, 64 * 1024).toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ClusterKeyError(
      code === 'ELOOP' || code === 'ENOTREG' ? `The cluster key file ${file} is a link or not a regular file; sync-cli does not follow it` : `Cannot read the cluster key file ${file}: ${code ?? 'error'}`,
      'Put the key in a plain 0600 file owned by the user running sync-cli.',
    );
  }
}

/** Writes a new key file (0600). Refuses to replace an existing key unless `force`. */
export function writeClusterKeyFile(file: string, key: string, force = false): void {
  if (!force && fs.existsSync(file)) {
    throw new ClusterKeyError(`${file} already holds a cluster key; nothing was changed`, 'Every host of a cluster needs the same key. To rotate, put the new key on the first line and keep the old one below it; --force replaces the file.');
  }
  writePrivateFile(file, `${key}\n`);
}
