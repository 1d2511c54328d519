// The one context object commands get their dependencies from (conventions.md §7): paths,
// config, logger, output and the CRM provider, each created lazily.
import type { Command } from 'commander';
import { loadConfig, saveConfig } from './config/load.js';
import { resolvePaths, type Paths } from './config/paths.js';
import type { Config } from './config/schema.js';
import { createLogger, type LogFormat, type LogLevel, type Logger } from './log/logger.js';
import { redactString } from './log/redact.js';
import type { CrmProvider } from './providers/crm/model.js';

export interface GlobalOptions {
  home?: string;
  json?: boolean;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
}

export interface Output {
  /** Human output (stdout). Suppressed with --json. */
  line(text?: string): void;
  /** The single JSON document of --json (stdout). */
  json(doc: unknown): void;
  readonly isJson: boolean;
  readonly isTTY: boolean;
}

export interface Context {
  readonly paths: Paths;
  readonly logger: Logger;
  readonly out: Output;
  readonly options: GlobalOptions;
  config(): Config;
  saveConfig(config: Config): void;
  /** Opens the configured CRM once per process. */
  crm(): Promise<CrmProvider>;
  close(): Promise<void>;
}

export function createOutput(isJson: boolean, stream: NodeJS.WriteStream = process.stdout): Output {
  return {
    isJson,
    isTTY: Boolean(stream.isTTY),
    line(text = '') {
      if (!isJson) stream.write(redactString(text) + '\n');
    },
    json(doc) {
      stream.write(JSON.stringify(doc, null, 2) + '\n');
    },
  };
}

export function createContext(options: GlobalOptions): Context {
  const paths = resolvePaths(options.home);
  const logger = createLogger({ level: options.logLevel ?? 'info', format: options.logFormat ?? 'human' });
  const out = createOutput(Boolean(options.json));
  let config: Config | undefined;
  let crm: Promise<CrmProvider> | undefined;
  const ctx: Context = {
    paths,
    logger,
    out,
    options,
    config() {
      config ??= loadConfig(paths.configFile);
      return config;
    },
    saveConfig(next) {
      saveConfig(paths.configFile, next);
      config = next;
    },
    crm() {
      crm ??= import('./providers/crm/index.js').then((m) => m.openCrmProvider(ctx.config().crm, paths));
      return crm;
    },
    async close() {
      if (crm) await (await crm.catch(() => undefined))?.close();
    },
  };
  return ctx;
}

/** Global options of the program, read from the root command. */
export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}
