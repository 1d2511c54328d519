// The configure UI: user list → form (→ tag picker) or → unassign confirmation.
import { Box, Text, useApp, useInput } from 'ink';
import { useEffect, useState } from 'react';
import type { CrmUser } from '../providers/crm/model.js';
import { AssignmentForm } from './AssignmentForm.js';
import { ConfirmUnassign } from './ConfirmUnassign.js';
import type { ConfigureDeps } from './deps.js';
import { Help } from './Help.js';
import { UserList } from './UserList.js';

type Screen = { name: 'list'; message?: string } | { name: 'form'; user: CrmUser } | { name: 'unassign'; user: CrmUser };

type Loaded = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready'; users: CrmUser[]; tags: string[] };

export function ConfigureApp({ deps }: { deps: ConfigureDeps }) {
  const { exit } = useApp();
  const [loaded, setLoaded] = useState<Loaded>({ kind: 'loading' });
  const [screen, setScreen] = useState<Screen>({ name: 'list' });
  const [listIndex, setListIndex] = useState(0);

  useEffect(() => {
    Promise.all([deps.loadUsers(), deps.loadTags()]).then(
      ([users, tags]) => setLoaded({ kind: 'ready', users, tags: [...tags].sort((a, b) => a.localeCompare(b)) }),
      (err: Error & { remedy?: string }) => setLoaded({ kind: 'error', message: `${err.message}${err.remedy ? `\nfix: ${err.remedy}` : ''}` }),
    );
  }, [deps]);

  useInput((input, key) => {
    if (loaded.kind === 'error' && (input === 'q' || key.escape || key.return)) exit();
  });

  if (loaded.kind === 'loading') return <Text>Loading CRM users and tags…</Text>;
  if (loaded.kind === 'error') {
    return (
      <Box flexDirection="column" width={80}>
        <Text color="red">{'Cannot read the CRM: ' + loaded.message}</Text>
        <Help keys={[['q', 'quit']]} />
      </Box>
    );
  }
  const config = deps.config();
  if (screen.name === 'form') {
    return (
      <AssignmentForm
        user={screen.user}
        existing={config.mailboxes.find((m) => m.user === screen.user.id)}
        tags={loaded.tags}
        config={config}
        testConnection={(d) => deps.testConnection(d)}
        save={(d) => deps.save(d)}
        onSaved={(message) => setScreen({ name: 'list', message })}
        onCancel={() => setScreen({ name: 'list' })}
      />
    );
  }
  if (screen.name === 'unassign') {
    const m = config.mailboxes.find((mb) => mb.user === screen.user.id);
    return (
      <ConfirmUnassign
        login={screen.user.login}
        mailbox={m ? `${m.username} @ ${m.url} (password in ${m.credentialStore})` : ''}
        onCancel={() => setScreen({ name: 'list' })}
        onConfirm={async () => {
          await deps.unassign(screen.user.id);
          setScreen({ name: 'list', message: `Unassigned the mailbox of ${screen.user.login}.` });
        }}
      />
    );
  }
  return (
    <UserList
      users={loaded.users}
      config={config}
      syncStates={deps.syncStates?.() ?? {}}
      initialIndex={listIndex}
      {...(screen.message ? { message: screen.message } : {})}
      onEdit={(user, i) => {
        setListIndex(i);
        setScreen({ name: 'form', user });
      }}
      onUnassign={(user, i) => {
        setListIndex(i);
        setScreen({ name: 'unassign', user });
      }}
      onQuit={() => exit()}
    />
  );
}
