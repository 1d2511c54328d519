// The typed outcome of one mailbox sync, read by the scheduler (when to try again), the exit code
// of `run --once` and status. Failures are soft (retry later, with the server's delay when it gave
// one) or hard (needs a human: nothing changes until the configuration does), as DAVx5 classifies
// them (D63; the table is in docs/operations.md). The typed errors are classified here, once: no
// caller matches an error by its name or its message.
import { ConfigError, CrmNotFoundError, CrmUnavailableError, InputError, MassDeleteGuardError, SyncCliError, UsageError, type ExitCode } from '../errors.js';
import { redactString } from '../log/redact.js';
import {
  AuthError,
  CredentialScopeError,
  DavProtocolError,
  DeadlineExceededError,
  LimitExceededError,
  NetworkError,
  NotFoundError,
  RateLimitedError,
  ServerError,
} from '../providers/dav/errors.js';
import { MailboxLockedError } from './lock.js';

/** Why a hard failure needs a human: what they have to change. */
export type HardReason =
  /** The server rejected the login or the account may not read this address. */
  | 'auth'
  /** The mailbox settings or config.json are wrong (URL, trusted origin, CRM user, a value). */
  | 'configuration'
  /** The server refuses what sync-cli needs (no home set, MKCOL refused). */
  | 'refused'
  /** R21: the plan would delete more than sync.maxDeletePercent; --force-delete confirms it. */
  | 'mass-delete'
  /** A configured limit (answer size, hrefs, items) was reached: raise it or fix the server. */
  | 'limit';

export type MailboxOutcome =
  /** Everything synced. */
  | { kind: 'ok' }
  /** The run finished; some items failed and are retried at the next sync (R22). */
  | { kind: 'items-failed'; items: number }
  /** Retry later: an outage, a timeout, a 5xx, rate limiting — with the server's delay if it gave one. */
  | { kind: 'soft'; message: string; retryAfterMs?: number; remedy?: string }
  /** Needs a human; retrying the same configuration cannot help. */
  | { kind: 'hard'; reason: HardReason; message: string; remedy: string; exitCode: ExitCode }
  /** Another process holds this mailbox (R24): try again soon; not a failure. */
  | { kind: 'busy'; message: string; pid: number };

export type OutcomeKind = MailboxOutcome['kind'];

const FIX_SETTINGS = 'fix the mailbox settings (`sync-cli users assign USER …`), then sync again';

/** Network error codes of a lost connection (CRM drivers throw these raw; the DAV transport wraps them). */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'PROTOCOL_CONNECTION_LOST', 'UND_ERR_SOCKET']);

/** True for an error (or one in its cause chain) that says the connection to a server is gone. */
function isConnectionLoss(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    if (e instanceof AggregateError && e.errors.some(isConnectionLoss)) return true;
  }
  return false;
}

function hard(reason: HardReason, err: SyncCliError, remedy = err.remedy ?? FIX_SETTINGS, exitCode: ExitCode = err.exitCode === 0 ? 1 : err.exitCode): MailboxOutcome {
  return { kind: 'hard', reason, message: err.message, remedy, exitCode };
}

/**
 * The outcome of a mailbox run that stopped with `err` (D63). Anything not named here — a
 * driver error, a bug — is soft: the daemon keeps retrying it with backoff, as before.
 */
export function classifyMailboxError(err: unknown, login?: string): MailboxOutcome {
  const o = classify(err);
  // Remedies name the mailbox as USER where the error is raised; the hint must work when typed.
  if (login === undefined || !('remedy' in o) || !o.remedy) return o;
  return { ...o, remedy: forLogin(o.remedy, login) };
}

/** A hint's `USER` placeholder replaced by the mailbox's CRM login. */
export function forLogin(text: string, login: string): string {
  return text.replace(/\bUSER\b/g, login);
}

function classify(err: unknown): MailboxOutcome {
  const message = redactString(err instanceof Error ? err.message : String(err));
  if (err instanceof MailboxLockedError) return { kind: 'busy', message, pid: err.pid };
  if (err instanceof RateLimitedError) return { kind: 'soft', message, retryAfterMs: err.retryAfterMs, remedy: err.remedy };
  if (err instanceof AuthError) return hard('auth', err); // AccessDeniedError too
  if (err instanceof CredentialScopeError) return hard('configuration', err);
  if (err instanceof MassDeleteGuardError) return hard('mass-delete', err);
  if (err instanceof LimitExceededError) return hard('limit', err);
  if (err instanceof DavProtocolError) return hard('refused', err, err.remedy ?? FIX_SETTINGS);
  // 404 after the engine provisioned again: the configured server URL itself is wrong.
  if (err instanceof NotFoundError) return hard('configuration', err, 'check the server URL of this mailbox (`sync-cli users assign USER --url …`)', 2);
  if (err instanceof CrmNotFoundError && err.kind === 'user') return hard('configuration', err, `unassign the mailbox (\`sync-cli users unassign ${err.id}\`) or fix the CRM`, 2);
  if (err instanceof ConfigError || err instanceof UsageError || err instanceof InputError) return hard('configuration', err);
  if (err instanceof ServerError) {
    // 5xx (after retries), 408/425: the server's problem of the moment. Any other status a
    // mailbox-level request got (405 on PROPFIND, 400 on discovery) will not change by itself.
    if (err.status >= 500 || err.status === 408 || err.status === 425) return { kind: 'soft', message, remedy: err.remedy };
    return hard('refused', err, 'the server refuses what sync-cli asks of this address: check the mailbox URL (`sync-cli doctor` tests it)');
  }
  if (err instanceof NetworkError || err instanceof DeadlineExceededError || err instanceof CrmUnavailableError) return { kind: 'soft', message, remedy: err.remedy };
  return { kind: 'soft', message, ...(err instanceof SyncCliError && err.remedy ? { remedy: err.remedy } : {}) };
}

/** The outcome of a run that finished (every item was tried). */
export function finishedOutcome(itemErrors: number): MailboxOutcome {
  return itemErrors > 0 ? { kind: 'items-failed', items: itemErrors } : { kind: 'ok' };
}

/**
 * True when the rest of the plan cannot succeed either: the server is gone, slow past its limits,
 * overloaded, asks us to wait, or no longer accepts the login. The executor then stops the
 * mailbox at once with this one error instead of failing (and remembering) every other item.
 */
export function stopsTheMailbox(err: unknown): boolean {
  if (err instanceof DeadlineExceededError || err instanceof RateLimitedError || err instanceof NetworkError) return true;
  if (err instanceof AuthError || err instanceof CredentialScopeError) return true;
  if (err instanceof ServerError) return err.status >= 500;
  // The CRM's connection is lost (not a refused record): the same for every other item.
  if (err instanceof CrmUnavailableError) return isConnectionLoss(err.cause);
  return !(err instanceof SyncCliError) && isConnectionLoss(err);
}

/** `run --once`'s exit code of a set of outcomes: 2 beats 1 beats 0 (docs/cli.md). */
export function exitCodeOf(outcomes: MailboxOutcome[]): ExitCode {
  let code: ExitCode = 0;
  for (const o of outcomes) {
    const c: ExitCode = o.kind === 'ok' ? 0 : o.kind === 'hard' ? o.exitCode : 1;
    if (c > code) code = c;
  }
  return code;
}

/** The outcome in `--json` (run --once) and the daemon's status: its kind, the server's delay, what to do. */
export function outcomeJson(o: MailboxOutcome): { kind: OutcomeKind; reason?: HardReason; retryAfterSeconds?: number; remedy?: string } {
  switch (o.kind) {
    case 'ok':
    case 'items-failed':
      return { kind: o.kind };
    case 'soft':
      return { kind: 'soft', ...(o.retryAfterMs !== undefined ? { retryAfterSeconds: Math.ceil(o.retryAfterMs / 1000) } : {}), ...(o.remedy ? { remedy: redactString(o.remedy) } : {}) };
    case 'hard':
      return { kind: 'hard', reason: o.reason, remedy: redactString(o.remedy) };
    case 'busy':
      return { kind: 'busy', remedy: 'another sync-cli process is syncing this mailbox; the next sync runs after it (R24)' };
  }
}
