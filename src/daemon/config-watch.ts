// Picks up config.json edits without a restart: the folder is watched (editors and
// write-file-atomic replace the file, which a watch on the file itself would lose) and SIGHUP
// forces a reload. An invalid edit is logged with the file, the problems and the fix; the last
// good config stays in force.
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { SyncCliError } from '../errors.js';
import type { Logger } from '../log/logger.js';

export interface ConfigWatcher {
  close(): void;
}

export function watchConfig(file: string, logger: Logger, apply: (config: Config, why: string) => void): ConfigWatcher {
  let last = readText(file);
  let timer: NodeJS.Timeout | undefined;
  const reload = (why: string, force: boolean) => {
    const text = readText(file);
    if (!force && text === last) return; // touched or our own rewrite of identical content
    last = text;
    try {
      apply(loadConfig(file), why);
    } catch (err) {
      const e = err as SyncCliError;
      logger.error(
        `config change ignored, keeping the last good configuration: ${e.message}` + (e.remedy ? `\n  fix: ${e.remedy} Then save again or send SIGHUP.` : ''),
        { configFile: file },
      );
    }
  };
  const debounced = (why: string) => {
    if (timer) clearTimeout(timer);
    // Editors write in several steps; read once they are done.
    timer = setTimeout(() => reload(why, false), 200);
  };
  let watcher: fs.FSWatcher | undefined;
  try {
    watcher = fs.watch(path.dirname(file), (_event, name) => {
      if (!name || name.toString() === path.basename(file)) debounced('config.json changed');
    });
    watcher.on('error', (err) => logger.warn(`watching ${file} stopped (${err.message}); send SIGHUP after edits`));
  } catch (err) {
    logger.warn(`cannot watch ${file} (${(err as Error).message}); send SIGHUP after edits`);
  }
  const onHup = () => reload('SIGHUP', true);
  process.on('SIGHUP', onHup);
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher?.close();
      process.off('SIGHUP', onHup);
    },
  };
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
