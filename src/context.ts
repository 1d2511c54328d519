// The one context object commands get their dependencies from (conventions.md §7): paths,
// config, logger, output, the CRM provider and the state store, each created lazily and closed
// once at exit.
import type { Command } from 'commander';
import { loadConfig, saveConfig } from './config/load.js';
import { resolvePaths, type Paths } from './config/paths.js';
import type { Config, MailboxConfig } from './config/schema.js';
import type { AssignmentStore } from './assignments/store.js';
import { createLogger, type LogFormat, type LogLevel, type Logger } from './log/logger.js';
import { redactString } from './log/redact.js';
import type { CrmProvider } from './providers/crm/model.js';
import type { StateStore } from './sync/state/store.js';
import { clusterTablesOf, useClusterTables } from './sync/state/shared.js';

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
  /** The state store, opened once per process (created when missing). */
  state(): Promise<StateStore>;
  /** The state store if one exists; null before anything was ever synced (read-only commands create none). */
  existingState(): Promise<StateStore | null>;
  /** Where the mailbox assignments live: config.json, or the shared PostgreSQL state (D87). */
  assignments(): Promise<AssignmentStore>;
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
  let state: Promise<StateStore> | undefined;
  let assignments: Promise<AssignmentStore> | undefined;
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
    state() {
      if (!state) {
        state = import('./sync/state/open.js').then((m) => m.openStateStore(ctx.config().state, paths));
        // The cluster credential store reads sealed passwords through this same connection.
        if (ctx.config().state.kind === 'postgres') useClusterTables(paths.configFile, state);
      }
      return state;
    },
    assignments() {
      assignments ??= (async () => {
        const { ConfigFileAssignments, DatabaseAssignments } = await import('./assignments/store.js');
        if (ctx.config().state.kind !== 'postgres') return new ConfigFileAssignments(ctx, paths.configFile);
        const store = await ctx.state();
        const tables = clusterTablesOf(store);
        // Never fall back to config.json: the other hosts would not see what is written there.
        if (!tables) throw new Error(`${store.describe} keeps no assignments`);
        return new DatabaseAssignments(tables, `the state database (${store.describe})`);
      })();
      return assignments;
    },
    async existingState() {
      if (!state && ctx.config().state.kind === 'sqlite') {
        const fs = await import('node:fs');
        if (!fs.existsSync(paths.stateDb)) return null;
      }
      return ctx.state();
    },
    async close() {
      if (crm) await (await crm.catch(() => undefined))?.close();
      if (state) await (await state.catch(() => undefined))?.close();
    },
  };
  return ctx;
}

/** THE list of assigned mailboxes (D87): config.json's, or the shared state's with state.kind = postgres. Read it only through here. */
export async function mailboxesOf(ctx: Pick<Context, 'assignments'>): Promise<MailboxConfig[]> {
  return (await ctx.assignments()).list();
}

/** The config with `mailboxes` as `mailboxesOf` reads them, for code that takes a Config. */
export async function configWithMailboxes(ctx: Pick<Context, 'assignments' | 'config'>): Promise<Config> {
  return { ...ctx.config(), mailboxes: await mailboxesOf(ctx) };
}

/** Global options of the program, read from the root command. */
export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}
