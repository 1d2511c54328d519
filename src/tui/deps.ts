// What the configure screens need, injected so that each screen can be tested with
// ink-testing-library: the CRM's users and tags, the assignments, test/save/unassign.
import type { StateStore } from '../sync/state/store.js';
import {
  assignMailbox,
  findAssignment,
  testMailboxConnection,
  unassignMailbox,
  validateAssignment,
  type AdminDeps,
  type AssignmentDraft,
  type AssignResult,
  type ProvisionedCollections,
} from '../assignments/index.js';
import type { Config } from '../config/schema.js';
import type { CrmUser } from '../providers/crm/model.js';
import { registerSecret } from '../log/redact.js';
import { getMailboxPassword } from '../secrets/index.js';

export interface ConfigureDeps {
  loadUsers(): Promise<CrmUser[]>;
  loadTags(): Promise<string[]>;
  /** The current config (re-read after every save). */
  config(): Config;
  /** Validates the draft and discovers the collections; throws with the exact error. */
  testConnection(draft: AssignmentDraft): Promise<ProvisionedCollections>;
  /** Validates, tests, stores the secret and writes config.json. */
  save(draft: AssignmentDraft): Promise<AssignResult>;
  unassign(userId: string): Promise<void>;
  /** Sync state per CRM user id from the state store (R22); empty before the first sync. */
  syncStates?(): Record<string, string>;
}

/** `syncStates`: read once before the screens open (readSyncStates); configure runs no sync. */
export function configureDepsFromAdmin(admin: AdminDeps, syncStates: Record<string, string> = {}): ConfigureDeps {
  return {
    loadUsers: async () => (await admin.crm()).listUsers(),
    loadTags: async () => (await admin.crm()).listTags(),
    config: () => admin.config(),
    syncStates: () => syncStates,
    async testConnection(draft) {
      registerSecret(draft.password);
      const crm = await admin.crm();
      const user = await crm.findUser(draft.user);
      const existing = user ? findAssignment(admin.config(), user) : undefined;
      const valid = await validateAssignment(draft, crm, existing);
      const password = valid.password ?? (existing ? await getMailboxPassword(existing, admin.paths, admin.env) : '');
      return testMailboxConnection(admin, valid.mailbox, password);
    },
    save: (draft) => assignMailbox(admin, draft, { verify: true }),
    unassign: async (userId) => {
      await unassignMailbox(admin, userId);
    },
  };
}

/** The last sync state of each mailbox, read from the state store when it exists. */
export async function readSyncStates(state: StateStore | null): Promise<Record<string, string>> {
  return state ? Object.fromEntries((await state.listStatuses()).map((s) => [s.user, s.state])) : {};
}
