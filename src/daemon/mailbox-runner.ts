// One scheduled mailbox sync as the daemon runs it: the engine with the cached CRM users, its
// result logged and counted, its typed outcome handed to the scheduler (D63). After a hard
// failure it remembers a fingerprint of the mailbox's settings and password, so the scheduler's
// cheap check can tell "fixed" from "unchanged" without sending anything to the server.
import crypto from 'node:crypto';
import type { MailboxConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { getMailboxPassword } from '../secrets/index.js';
import { syncMailbox, type EngineDeps, type SyncEvent } from '../sync/engine.js';
import { redactString } from '../log/redact.js';
import type { MailboxOutcome } from '../sync/outcome.js';
import type { DaemonParts } from './parts.js';

export interface MailboxRunnerDeps extends DaemonParts {
  engine?: Pick<EngineDeps, 'openMailbox'>;
}

function logResult(logger: Logger, e: SyncEvent): void {
  if (e.type === 'phase') logger.debug(`${e.user}: ${e.phase}`);
  if (e.type !== 'mailbox-done') return;
  const r = e.result;
  const meta = { user: r.login, state: r.state, outcome: r.outcome.kind, created: r.created, updated: r.updated, deleted: r.deleted, crmUpdates: r.crmUpdates, conflicts: r.conflicts, errors: r.errors.length, durationMs: r.durationMs };
  if (r.state === 'success') logger.info(`synced ${r.login}`, meta);
  else logger.warn(`sync of ${r.login} failed: ${r.error ?? `${r.errors.length} item(s) failed; first: ${r.errors[0]?.item}: ${r.errors[0]?.message}`}`, meta);
}

export class MailboxRunner {
  /** user id → fingerprint of the settings a hard failure happened with. */
  private readonly held = new Map<string, string>();

  constructor(private readonly deps: MailboxRunnerDeps) {}

  async run(userId: string, reason: string): Promise<MailboxOutcome> {
    const { state, logger, users } = this.deps;
    const config = this.deps.config();
    const m = config.mailboxes.find((x) => x.user === userId);
    if (!m) return { kind: 'ok' }; // unassigned meanwhile; the scheduler drops it
    let outcome: MailboxOutcome;
    try {
      const u = await users.find(userId);
      if (!u) {
        // Retried with backoff like an outage: the CRM may get the user back.
        const message = `CRM user ${userId} no longer exists (fix: unassign the mailbox with \`sync-cli users unassign ${userId}\` or fix the CRM)`;
        await state.setStatus(userId, { state: 'failed', lastError: message, finishedAt: new Date().toISOString() });
        logger.warn(`sync of ${userId} not started: ${message}`);
        return { kind: 'soft', message };
      }
      logger.debug(`sync ${u.login} (${reason})`);
      const result = await syncMailbox({ ...this.deps, config, onEvent: (e) => logResult(logger, e), ...this.deps.engine }, m, u, users.list(), {});
      this.deps.metrics.record(result);
      outcome = result.outcome;
    } catch (err) {
      // The user list could not be read: the CRM is down; retried with backoff.
      const message = `the CRM is unreachable: ${redactString((err as Error).message)}`;
      await state.setStatus(userId, { state: 'failed', lastError: message, finishedAt: new Date().toISOString() }).catch(() => undefined);
      logger.warn(`sync of ${users.loginOf(userId)} not started: ${message}`);
      return { kind: 'soft', message };
    }
    if (outcome.kind === 'hard') {
      this.held.set(userId, await this.fingerprint(m));
      logger.error(`${users.loginOf(userId)}: not retried until its settings change: ${outcome.message} (fix: ${outcome.remedy})`);
    } else this.held.delete(userId);
    return outcome;
  }

  /** For the scheduler's check of a held mailbox: did its settings or password change? */
  async changedSinceHold(userId: string): Promise<boolean> {
    const m = this.deps.config().mailboxes.find((x) => x.user === userId);
    const before = this.held.get(userId);
    if (!m || before === undefined) return true;
    return (await this.fingerprint(m)) !== before;
  }

  forget(userId: string): void {
    this.held.delete(userId);
  }

  /** A hash of what a human changes to fix a hard failure: in memory, or a cluster's held table (D82); never the values (R25). */
  async fingerprint(m: MailboxConfig): Promise<string> {
    let secret: string;
    try {
      secret = m.url.startsWith('file:') ? '' : await getMailboxPassword(m, this.deps.paths, this.deps.env);
    } catch (err) {
      secret = `unreadable: ${(err as Error).message}`;
    }
    const config = this.deps.config();
    // The global settings of a mailbox count too (limits, sync policy), and a success of another
    // process (`run --once --force-delete` after R21's guard) releases the hold as well.
    const relevant = { m, sync: config.sync, limits: config.limits, dav: config.dav, lastSuccess: (await this.deps.state.getStatus(m.user)).lastSuccess };
    return crypto.createHash('sha256').update(JSON.stringify(relevant)).update('\0').update(secret).digest('hex');
  }
}
