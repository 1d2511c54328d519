// Entry of `sync-cli configure`, loaded with a dynamic import so that Ink and React cost
// nothing for the other commands.
import { render } from 'ink';
import type { AdminDeps } from '../assignments/index.js';
import { ConfigureApp } from './App.js';
import { configureDepsFromAdmin } from './deps.js';

export async function runConfigureUi(admin: AdminDeps): Promise<void> {
  const app = render(<ConfigureApp deps={configureDepsFromAdmin(admin)} />, { exitOnCtrlC: true });
  await app.waitUntilExit();
}
