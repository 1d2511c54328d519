// What the daemon's parts share: the installation, the CRM, the state store, the metrics, the
// cached CRM users, and the configuration in force (replaced on every reload, so read it each time).
import type { Paths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { CrmProvider } from '../providers/crm/model.js';
import type { StateStore } from '../sync/state/store.js';
import type { CrmUsersCache } from './crm-users.js';
import type { DaemonMetrics } from './metrics.js';

export interface DaemonParts {
  paths: Paths;
  logger: Logger;
  crm: CrmProvider;
  state: StateStore;
  metrics: DaemonMetrics;
  users: CrmUsersCache;
  env: NodeJS.ProcessEnv;
  config(): Config;
}
