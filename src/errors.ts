// Typed errors. Providers and the engine throw these; only src/cli.ts turns them into messages
// and exit codes (exit 2: bad usage or configuration; exit 1: the run finished with failures).
// Messages never contain credentials (R25): build them from redacted URLs only.

export type ExitCode = 0 | 1 | 2;

export class SyncCliError extends Error {
  /** Exit code when this error reaches the CLI entry point. */
  readonly exitCode: ExitCode;
  /** What the user can do about it, printed after the message. */
  readonly remedy?: string;
  constructor(message: string, opts: { exitCode?: ExitCode; remedy?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.exitCode = opts.exitCode ?? 1;
    this.remedy = opts.remedy;
  }
}

/** Wrong flags or arguments. */
export class UsageError extends SyncCliError {
  constructor(message: string, remedy?: string) {
    super(message, { exitCode: 2, remedy });
  }
}

/** config.json (or another input file) is invalid; lists every problem as `path: message`. */
export class ConfigError extends SyncCliError {
  readonly problems: string[];
  constructor(message: string, problems: string[] = [], remedy?: string) {
    super(problems.length ? `${message}\n  ${problems.join('\n  ')}` : message, { exitCode: 2, remedy });
    this.problems = problems;
  }
}

/** The CRM database cannot be reached or does not follow the view contract. */
export class CrmUnavailableError extends SyncCliError {
  constructor(message: string, remedy?: string, cause?: unknown) {
    super(message, { exitCode: 2, remedy, cause });
  }
}

/** A CRM record changed since it was read (expected version mismatch). The engine re-reads. */
export class CrmVersionConflictError extends SyncCliError {
  constructor(
    readonly kind: 'address' | 'activity',
    readonly id: string,
  ) {
    super(`CRM ${kind} ${id} was changed by someone else since it was read`, { exitCode: 1 });
  }
}

/** A record id the CRM does not know. */
export class CrmNotFoundError extends SyncCliError {
  constructor(
    readonly kind: 'address' | 'activity' | 'user',
    readonly id: string,
  ) {
    super(`CRM ${kind} ${id} does not exist`, { exitCode: 2 });
  }
}

/** Bad content in an input file (exchange file, vCard, …) naming the record and field. */
export class InputError extends SyncCliError {
  constructor(message: string, remedy?: string) {
    super(message, { exitCode: 2, remedy });
  }
}

/** A command that a later issue implements. */
export class NotImplementedError extends SyncCliError {
  constructor(command: string) {
    super(`'${command}' is not implemented yet`, { exitCode: 2 });
  }
}

/** R21: the plan would delete more than sync.maxDeletePercent; nothing was written. A human confirms with --force-delete. */
export class MassDeleteGuardError extends SyncCliError {
  constructor(message: string, remedy: string) {
    super(message, { exitCode: 1, remedy });
  }
}
