// Where one installation keeps its files (cli.md "Where things live").
import envPaths from 'env-paths';
import path from 'node:path';

export interface Paths {
  /** Directory holding config.json (and, with --home, everything else). */
  configDir: string;
  /** Directory holding the state store, the embedded CRM, locks and file secrets. */
  dataDir: string;
  configFile: string;
  stateDb: string;
  crmDb: string;
  secretsFile: string;
  lockDir: string;
}

/** `--home DIR` / SYNC_CLI_HOME puts everything in one folder; otherwise the platform's dirs. */
export function resolvePaths(home?: string): Paths {
  const chosen = home ?? process.env.SYNC_CLI_HOME;
  let configDir: string;
  let dataDir: string;
  if (chosen) {
    configDir = dataDir = path.resolve(chosen);
  } else {
    const p = envPaths('sync-cli', { suffix: '' });
    configDir = p.config;
    dataDir = p.data;
  }
  return {
    configDir,
    dataDir,
    configFile: path.join(configDir, 'config.json'),
    stateDb: path.join(dataDir, 'state.sqlite'),
    crmDb: path.join(dataDir, 'crm.sqlite'),
    secretsFile: path.join(dataDir, 'secrets.json'),
    lockDir: path.join(dataDir, 'locks'),
  };
}
