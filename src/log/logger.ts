// winston logger: human lines to stderr by default, JSON lines for the daemon
// (`--log-format json`). Every record passes the redaction layer first (R25).
import winston from 'winston';
import { redactEntry, redactString } from './redact.js';

export type LogFormat = 'human' | 'json';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type Logger = winston.Logger;

const redactFormat = winston.format((info) => {
  const SPLAT = Symbol.for('splat');
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
  // winston formats (redacts, stamps, serialises) every record and lets the transport drop the
  // ones below its level: a debug line the daemon does not print cost as much as one it does,
  // several per sync. A level below the logger's (read at each call: it may change) returns here.
  for (const level of ['debug', 'info', 'warn'] as const) {
    const write = logger[level].bind(logger) as winston.LeveledLogMethod;
    logger[level] = ((...args: Parameters<winston.LeveledLogMethod>) => (logger.isLevelEnabled(level) ? write(...args) : logger)) as winston.LeveledLogMethod;
  }
  return logger;
}
