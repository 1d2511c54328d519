// Screen 1: the CRM users with their mailbox and state.
import { Box, Text, useInput } from 'ink';
import type { Config } from '../config/schema.js';
import type { CrmUser } from '../providers/crm/model.js';
import { Help } from './Help.js';
import { singleKeys } from './keys.js';
import { useSyncState } from './use-sync-state.js';

/** Rows of users visible at once, so that the screen fits 80×24. */
export const USER_ROWS = 14;

function cell(text: string, width: number): string {
  return text.length > width ? text.slice(0, width - 1) + '…' : text.padEnd(width);
}

export interface UserListProps {
  users: CrmUser[];
  config: Config;
  /** Sync state per CRM user id (R22), for assigned users. */
  syncStates?: Record<string, string>;
  message?: string;
  initialIndex?: number;
  onEdit(user: CrmUser, index: number): void;
  onUnassign(user: CrmUser, index: number): void;
  onQuit(): void;
}

export function UserList({ users, config, syncStates = {}, message, initialIndex = 0, onEdit, onUnassign, onQuit }: UserListProps) {
  const [index, setIndex, indexRef] = useSyncState(Math.min(initialIndex, Math.max(users.length - 1, 0)));
  useInput((chunk, chunkKey) => {
    // Keys typed together act one after the other; after one that leaves the list, the rest
    // belongs to the next screen, never to this one (a fast "\rq" must not quit).
    for (const [input, key] of singleKeys(chunk, chunkKey)) {
      const index = indexRef.current;
      if (key.upArrow || input === 'k') setIndex((i) => Math.max(0, i - 1));
      else if (key.downArrow || input === 'j') setIndex((i) => Math.min(users.length - 1, i + 1));
      else if (key.pageDown) setIndex((i) => Math.min(users.length - 1, i + USER_ROWS));
      else if (key.pageUp) setIndex((i) => Math.max(0, i - USER_ROWS));
      else if (key.return && users[index]) return onEdit(users[index], index);
      else if ((input === 'd' || key.delete) && users[index]) {
        if (config.mailboxes.some((m) => m.user === users[index]!.id)) return onUnassign(users[index], index);
      } else if (input === 'q' || key.escape) return onQuit();
    }
  });
  const first = Math.max(0, Math.min(index - Math.floor(USER_ROWS / 2), users.length - USER_ROWS));
  const visible = users.slice(first, first + USER_ROWS);
  return (
    <Box flexDirection="column" width={80}>
      <Text bold>sync-cli configure — mailbox assignments ({users.length} CRM users)</Text>
      <Text dimColor>{'  ' + cell('login', 14) + cell('name', 22) + cell('mailbox', 30) + 'state'}</Text>
      {users.length === 0 && <Text>The CRM has no users. Create them in the CRM first (sync-cli crm import).</Text>}
      {visible.map((u, i) => {
        const m = config.mailboxes.find((mb) => mb.user === u.id);
        const selected = first + i === index;
        let host = '—';
        if (m) {
          try {
            host = `${m.username}@${new URL(m.url).host}`;
          } catch {
            host = m.username;
          }
        }
        return (
          <Text key={u.id} inverse={selected} wrap="truncate-end">
            {(selected ? '› ' : '  ') + cell(u.login, 14) + cell(u.name, 22) + cell(host, 30) + (m ? (syncStates[u.id] ?? 'not-started') : 'not assigned')}
          </Text>
        );
      })}
      {users.length > USER_ROWS && <Text dimColor>{`  ${first + 1}–${first + visible.length} of ${users.length}`}</Text>}
      <Box height={1}>{message ? <Text color="green" wrap="truncate-end">{message}</Text> : <Text> </Text>}</Box>
      <Help keys={[['↑↓', 'select'], ['Enter', 'assign/edit'], ['d', 'unassign'], ['q', 'quit']]} />
    </Box>
  );
}
