// AdminDeps from the CLI context (the real CRM, config file and DAV provider).
import type { Context } from '../context.js';
import type { AdminDeps } from './assign.js';
import { davConnector } from './connection.js';

export function adminDepsFromContext(ctx: Context): AdminDeps {
  return {
    paths: ctx.paths,
    crm: () => ctx.crm(),
    config: () => ctx.config(),
    saveConfig: (c) => ctx.saveConfig(c),
    connect: davConnector,
  };
}
