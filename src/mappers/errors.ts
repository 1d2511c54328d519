import { SyncCliError } from '../errors.js';

/**
 * One device item (vCard / iCalendar) or one CRM record could not be mapped. Per item: the
 * engine records it, leaves both sides untouched and retries at the next sync (R22).
 */
export class MappingError extends SyncCliError {
  readonly reason: string;
  /** 1-based physical line of the offending content line, when known. */
  readonly line?: number;
  /** The offending line, cut to 80 characters. */
  readonly lineText?: string;
  constructor(reason: string, opts: { line?: number; lineText?: string; item?: string; remedy?: string; cause?: unknown } = {}) {
    const where = opts.line !== undefined ? ` (line ${opts.line}${opts.lineText !== undefined ? `: "${cut(opts.lineText)}"` : ''})` : '';
    const what = opts.item ? `${opts.item}: ` : '';
    super(`Cannot map ${what}${reason}${where}`, {
      exitCode: 1,
      remedy: opts.remedy ?? 'Fix or re-save the item on the device (or the record in the CRM); the other items sync normally and this one is retried next time.',
      cause: opts.cause,
    });
    this.reason = reason;
    this.line = opts.line;
    this.lineText = opts.lineText === undefined ? undefined : cut(opts.lineText);
  }
}

function cut(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
