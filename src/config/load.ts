// Loading and saving config.json: validated against the one schema, every problem listed as
// `path: message`, written atomically with mode 0600.
import fs from 'node:fs';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { didYouMean } from './did-you-mean.js';
import { writePrivateFile } from './home.js';
import { configSchema, type Config } from './schema.js';

/** The keys an object schema knows at `path` (through defaults, optionals and arrays). */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node: unknown = schema;
  const unwrap = () => {
    for (;;) {
      const def = (node as { def?: { type?: string; innerType?: unknown; element?: unknown } }).def;
      if (def?.type === 'default' || def?.type === 'optional' || def?.type === 'nullable' || def?.type === 'prefault') node = def.innerType;
      else return def;
    }
  };
  for (const seg of path) {
    const def = unwrap();
    if (def?.type === 'array' && typeof seg === 'number') node = def.element;
    else if (def?.type === 'object') node = (node as { shape: Record<string, unknown> }).shape[String(seg)];
    else return [];
  }
  const def = unwrap();
  return def?.type === 'object' ? Object.keys((node as { shape: Record<string, unknown> }).shape) : [];
}

/** Issues as `path: message`; an unknown key names the closest known one ("did you mean …?"). */
export function formatIssues(issues: z.core.$ZodIssue[], schema: z.ZodType = configSchema): string[] {
  return issues.flatMap((i) => {
    const where = i.path.length ? i.path.join('.') : '(top level)';
    if (i.code === 'unrecognized_keys') {
      const known = knownKeysAt(schema, i.path);
      return i.keys.map((k) => `${i.path.length ? `${where}.` : ''}${k}: unknown key${didYouMean(k, known)}`);
    }
    return [`${where}: ${i.message}`];
  });
}

/** Validates a parsed config object; throws ConfigError naming the file and each bad path. */
export function parseConfig(raw: unknown, file: string): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      `${file} is not a valid sync-cli configuration:`,
      formatIssues(result.error.issues),
      `Fix the listed keys (see config/schema.json for every key, its description and default), or move the file away to start from defaults.`,
    );
  }
  return result.data;
}

/** Reads config.json; a missing file means all defaults. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return parseConfig({}, file);
    throw new ConfigError(`Cannot read ${file}: ${(err as Error).message}`, [], 'Check the file permissions.');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file} is not valid JSON: ${(err as Error).message}`, [], 'Fix the JSON syntax.');
  }
  return parseConfig(raw, file);
}

/** Validates and writes atomically with mode 0600. */
export function saveConfig(file: string, config: Config): void {
  const valid = parseConfig(config, file);
  writePrivateFile(file, JSON.stringify(valid, null, 2) + '\n');
}
