// One validation for a mailbox assignment, shared by `users assign` and the configure UI:
// unknown user, bad URL or URL with credentials, tags that do not exist in the CRM, bad numbers.
// Every problem names its field and the fix; the CLI exits 2 with them.
import { normalizeOrigin } from '../providers/dav/credential-scope.js';
import { mailboxSchema, type MailboxConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { CrmProvider, CrmUser } from '../providers/crm/model.js';
import { credentialStoreKinds, type CredentialStoreKind } from '../secrets/index.js';

/** The CRM lookups the admin side needs. */
export type CrmDirectory = Pick<CrmProvider, 'listUsers' | 'findUser' | 'listTags'>;

export type AuthScheme = MailboxConfig['auth'];
export const authSchemes: readonly AuthScheme[] = ['basic', 'bearer', 'digest'];

/** What the admin typed, before validation. Empty/undefined optional fields mean "CRM default". */
export interface AssignmentDraft {
  /** CRM user login or id. */
  user: string;
  url: string;
  username: string;
  /** undefined: keep the stored password (editing an existing assignment). */
  password?: string;
  auth?: string;
  credentialStore?: string;
  addressTags?: string[];
  activityTags?: string[];
  pastDays?: number | string;
  syncPrivate?: boolean;
  importAppointmentType?: string;
  importTaskType?: string;
  /** Other servers the mailbox server names that may get the password (--trust-origin). */
  trustedOrigins?: string[];
}

export type DraftField = keyof AssignmentDraft;

export interface FieldProblem {
  field: DraftField;
  message: string;
}

export class AssignmentInvalidError extends UsageError {
  constructor(
    readonly userLabel: string,
    readonly problems: FieldProblem[],
  ) {
    super(`The mailbox assignment for ${userLabel} is not valid:\n  ${problems.map((p) => `${p.field}: ${p.message}`).join('\n  ')}`, 'Correct the listed values and try again (sync-cli users list shows the CRM users; the CRM tags are its Merkmale).');
  }
}

export class UnknownUserError extends UsageError {
  constructor(readonly user: string) {
    super(`There is no CRM user with login or id "${user}"`, 'Pick one from `sync-cli users list`.');
  }
}

/** The first C0/C1 control character of a text as "U+007F at position 27", or null. */
export function controlCharacter(text: string): string | null {
  // eslint-disable-next-line no-control-regex
  const m = /[\u0000-\u001f\u007f-\u009f]/.exec(text);
  return m ? `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} at position ${m.index + 1}` : null;
}

/** A URL problem, or null. Never echoes credentials found in the URL. */
export function checkMailboxUrl(raw: string): string | null {
  const text = raw.trim();
  if (!text) return 'is required (the CardDAV/CalDAV server URL, e.g. https://dav.example.com/)';
  const control = controlCharacter(text);
  if (control) return `contains the invisible control character ${control}; type the URL again (a terminal may have sent Backspace or Delete as a character)`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a URL (expected e.g. https://dav.example.com/)';
  }
  // file:///folder is a vdir mailbox (a local folder as vdirsyncer, khard and khal read it).
  if (url.protocol === 'file:') return url.hostname ? 'a vdir folder is file:///absolute/path (no host name)' : null;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must start with http:// or https:// (or file:/// for a vdir folder; got ${url.protocol})`;
  if (url.username || url.password) return 'must not contain a user name or password; give them with --username and --password-stdin/--password-env';
  if (!url.hostname) return 'has no host name';
  return null;
}

function checkTags(tags: string[] | undefined, known: Set<string>): string | null {
  if (!tags) return null;
  const unknown = tags.filter((t) => !known.has(t));
  if (unknown.length) return `${unknown.map((t) => `"${t}"`).join(', ')} ${unknown.length === 1 ? 'does' : 'do'} not exist in the CRM`;
  return null;
}

/** Splits "a, b,,c" into ["a","b","c"]; undefined for undefined. */
export function parseTagList(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  return [...new Set(raw.split(',').map((t) => t.trim()).filter(Boolean))];
}

export interface ValidAssignment {
  crmUser: CrmUser;
  /** The new config entry (collections carried over from `existing` when the server stayed the same). */
  mailbox: MailboxConfig;
  /** The new password, when one was given. */
  password?: string;
}

/**
 * Validates a draft against the CRM. `existing` is the current assignment of that user (if any):
 * without it a password is required.
 */
export async function validateAssignment(draft: AssignmentDraft, crm: CrmDirectory, existing?: MailboxConfig): Promise<ValidAssignment> {
  const crmUser = await crm.findUser(draft.user.trim());
  if (!crmUser) throw new UnknownUserError(draft.user);
  const problems: FieldProblem[] = [];

  const urlProblem = checkMailboxUrl(draft.url);
  if (urlProblem) problems.push({ field: 'url', message: urlProblem });
  if (!draft.username.trim()) problems.push({ field: 'username', message: 'is required (the login at the mailbox server)' });
  else if (controlCharacter(draft.username)) problems.push({ field: 'username', message: `contains the invisible control character ${controlCharacter(draft.username)}; type it again` });
  if (draft.password === undefined) {
    if (!existing && draft.credentialStore !== 'env' && !draft.url.trim().startsWith('file:')) problems.push({ field: 'password', message: 'is required for a new assignment' });
  } else if (draft.password === '') {
    problems.push({ field: 'password', message: 'is empty' });
  }
  const auth = (draft.auth ?? existing?.auth ?? 'basic') as AuthScheme;
  if (!authSchemes.includes(auth)) problems.push({ field: 'auth', message: `must be one of ${authSchemes.join(', ')}` });
  const store = (draft.credentialStore ?? existing?.credentialStore ?? 'file') as CredentialStoreKind;
  if (!credentialStoreKinds.includes(store)) problems.push({ field: 'credentialStore', message: `must be one of ${credentialStoreKinds.join(', ')}` });

  const known = new Set(await crm.listTags());
  for (const field of ['addressTags', 'activityTags'] as const) {
    const p = checkTags(draft[field], known);
    if (p) problems.push({ field, message: p });
  }

  let pastDays: number | undefined;
  if (draft.pastDays !== undefined && draft.pastDays !== '') {
    const n = typeof draft.pastDays === 'number' ? draft.pastDays : Number(String(draft.pastDays).trim());
    if (!Number.isInteger(n) || n < 0 || n > 3650) problems.push({ field: 'pastDays', message: `must be a whole number of days from 0 to 3650 (got ${JSON.stringify(String(draft.pastDays))})` });
    else pastDays = n;
  }
  for (const field of ['importAppointmentType', 'importTaskType'] as const) {
    const v = draft[field];
    if (v !== undefined && v.trim() === '' && v !== '') problems.push({ field, message: 'must not be blank' });
  }
  const trusted: string[] = [];
  for (const o of draft.trustedOrigins ?? []) {
    const origin = normalizeOrigin(o.trim());
    if (!origin) problems.push({ field: 'trustedOrigins', message: `${JSON.stringify(o)} is not an origin; give it as https://host or https://host:port` });
    else if (draft.url.trim().startsWith('https:') && origin.startsWith('http:')) problems.push({ field: 'trustedOrigins', message: `${origin} is plain http; the password of an https mailbox never goes over plain http` });
    else if (!trusted.includes(origin)) trusted.push(origin);
  }
  if (problems.length) throw new AssignmentInvalidError(crmUser.login, problems);

  const url = draft.url.trim();
  const sameServer = existing && existing.url === url && existing.username === draft.username.trim();
  const candidate: MailboxConfig = {
    user: crmUser.id,
    url,
    username: draft.username.trim(),
    auth,
    credentialStore: store,
    ...(draft.addressTags?.length ? { addressTags: draft.addressTags } : {}),
    ...(draft.activityTags?.length ? { activityTags: draft.activityTags } : {}),
    ...(pastDays !== undefined ? { pastDays } : {}),
    ...(draft.syncPrivate !== undefined ? { syncPrivate: draft.syncPrivate } : {}),
    ...(draft.importAppointmentType?.trim() ? { importAppointmentType: draft.importAppointmentType.trim() } : {}),
    ...(draft.importTaskType?.trim() ? { importTaskType: draft.importTaskType.trim() } : {}),
    ...(existing?.intervalSeconds !== undefined ? { intervalSeconds: existing.intervalSeconds } : {}),
    ...(sameServer && existing.collections ? { collections: existing.collections } : {}),
    ...(trusted.length ? { trustedOrigins: trusted } : draft.trustedOrigins === undefined && sameServer && existing.trustedOrigins ? { trustedOrigins: existing.trustedOrigins } : {}),
  };
  // The config schema is the final word (e.g. its URL rule); report its problems per field too.
  const parsed = mailboxSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new AssignmentInvalidError(
      crmUser.login,
      parsed.error.issues.map((i) => ({ field: (String(i.path[0] ?? 'user') as DraftField), message: i.message })),
    );
  }
  return { crmUser, mailbox: parsed.data, ...(draft.password !== undefined ? { password: draft.password } : {}) };
}
