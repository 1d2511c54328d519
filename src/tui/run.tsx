// Entry of `sync-cli configure`, loaded with a dynamic import so that Ink and React cost
// nothing for the other commands.
import { render } from 'ink';
import type { AdminDeps } from '../assignments/index.js';
import type { StateStore } from '../sync/state/store.js';
import { ConfigureApp } from './App.js';
import { configureDepsFromAdmin, readSyncStates } from './deps.js';

export async function runConfigureUi(admin: AdminDeps, state: StateStore | null): Promise<void> {
  const app = render(<ConfigureApp deps={configureDepsFromAdmin(admin, await readSyncStates(state))} />, { exitOnCtrlC: true });
  await app.waitUntilExit();
}
