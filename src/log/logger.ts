// winston logger: human lines to stderr by default, JSON lines for the daemon
// (`--log-format json`). Every record passes the redaction layer first (R25).
import winston from 'winston';
import { redactEntry, redactString } from './redact.js';

export type LogFormat = 'human' | 'json';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type Logger = winston.Logger;

const LEVEL = Symbol.for('level');
const MESSAGE = Symbol.for('message');
const SPLAT = Symbol.for('splat');

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key !== 'level') (info as Record<string, unknown>)[key] = redactEntry(key, (info as Record<string, unknown>)[key]);
  }
  if (typeof info.message === 'string') info.message = redactString(info.message);
  delete (info as Record<symbol, unknown>)[SPLAT];
  return info;
});

const human = winston.format.printf((info) => {
  const { level, message, timestamp: _t, ...rest } = info as Record<string, unknown>;
  const extra = Object.keys(rest).length ? ' ' + Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : '';
  return `${String(level)}: ${String(message)}${extra}`;
});

/** How long JSON lines to stderr may wait to be written together (D102). */
export const JSON_FLUSH_MS = 50;
const FLUSH_BYTES = 16 * 1024;
const flushers = new Set<() => void>();

/** Writes the log lines still waiting: before anything else goes to stderr (an error message). */
export function flushLogs(): void {
  for (const flush of flushers) flush();
}

/**
 * Where formatted lines go. JSON lines to stderr (a daemon's or worker's journal) are written
 * together: at most JSON_FLUSH_MS later, at once when 16 KiB wait, and before the process exits
 * (D102) — one write for a burst of syncs instead of one per line. Human lines and a given
 * stream are written at once, in order with whatever else the command prints.
 */
function lineSink(opts: { format: LogFormat; stream?: NodeJS.WritableStream }): (line: string) => void {
  const out = opts.stream ?? process.stderr;
  if (opts.stream || opts.format !== 'json') return (line) => void out.write(line);
  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (!pending) return;
    const chunk = pending;
    pending = '';
    out.write(chunk);
  };
  process.on('exit', flush);
  flushers.add(flush);
  return (line) => {
    pending += line;
    if (pending.length >= FLUSH_BYTES) flush();
    else timer ??= setTimeout(flush, JSON_FLUSH_MS).unref();
  };
}

export function createLogger(opts: { level?: LogLevel; format?: LogFormat; stream?: NodeJS.WritableStream } = {}): Logger {
  const format = opts.format ?? 'human';
  const logger = winston.createLogger({
    level: opts.level ?? 'info',
    format: winston.format.combine(
      redactFormat(),
      format === 'json' ? winston.format.combine(winston.format.timestamp(), winston.format.json()) : human,
    ),
    transports: [
      opts.stream
        ? new winston.transports.Stream({ stream: opts.stream })
        : new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] }),
    ],
  });
  // The common call — `logger.info('text', { meta })` — is formatted by winston's own format
  // chain (redaction, timestamp, JSON) and the line handed to the sink directly: winston's object
  // streams between logger and transport cost more than the formatting, several times per sync.
  // A level below the logger's (read at each call: it may change) returns before any of it.
  // Any other shape (an Error, several arguments) takes winston's whole path.
  const sink = lineSink({ format, stream: opts.stream });
  for (const level of ['error', 'warn', 'info', 'debug'] as const) {
    const write = logger[level].bind(logger) as winston.LeveledLogMethod;
    logger[level] = ((message: unknown, ...rest: unknown[]) => {
      if (!logger.isLevelEnabled(level)) return logger;
      const meta = rest[0];
      const plain = meta === undefined || (typeof meta === 'object' && meta !== null && !(meta instanceof Error) && !Array.isArray(meta) && !('message' in meta));
      if (typeof message !== 'string' || rest.length > 1 || !plain) return (write as (...a: unknown[]) => Logger)(message, ...rest);
      const info = { ...(meta as object), level, message, [LEVEL]: level } as winston.Logform.TransformableInfo;
      const done = logger.format.transform(info, (logger.format as { options?: object }).options);
      if (done && typeof done === 'object') sink(`${String((done as Record<symbol, unknown>)[MESSAGE])}\n`);
      return logger;
    }) as winston.LeveledLogMethod;
  }
  return logger;
}
