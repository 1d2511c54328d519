// Screen 2: one user's mailbox assignment — server, login, password (masked), tags from the
// CRM, past days, private sync, import types; Test connection, Save, Cancel.
import { Box, Text, useInput } from 'ink';
import TextInput from 'ink-text-input';
import { useState } from 'react';
import { useSyncState } from './use-sync-state.js';
import type { AssignmentDraft, ProvisionedCollections } from '../assignments/index.js';
import { collectionKinds } from '../assignments/connection.js';
import type { Config, MailboxConfig } from '../config/schema.js';
import type { CrmUser } from '../providers/crm/model.js';
import { redactString } from '../log/redact.js';
import { Help } from './Help.js';
import { TagPicker } from './TagPicker.js';

type TextField = 'url' | 'username' | 'password' | 'pastDays' | 'importAppointmentType' | 'importTaskType';
type Item = TextField | 'addressTags' | 'activityTags' | 'syncPrivate' | 'test' | 'save' | 'cancel';
const ITEMS: Item[] = ['url', 'username', 'password', 'addressTags', 'activityTags', 'pastDays', 'syncPrivate', 'importAppointmentType', 'importTaskType', 'test', 'save', 'cancel'];
const TEXT_FIELDS = new Set<Item>(['url', 'username', 'password', 'pastDays', 'importAppointmentType', 'importTaskType']);
const LABELS: Record<Exclude<Item, 'test' | 'save' | 'cancel'>, string> = {
  url: 'Server URL',
  username: 'Username',
  password: 'Password',
  addressTags: 'Address tags',
  activityTags: 'Activity tags',
  pastDays: 'Past days',
  syncPrivate: 'Private sync',
  importAppointmentType: 'Appt. type',
  importTaskType: 'Task type',
};

export interface FormValues {
  url: string;
  username: string;
  password: string;
  /** undefined: the CRM user's tags. */
  addressTags?: string[];
  activityTags?: string[];
  pastDays: string;
  /** undefined: the config default. */
  syncPrivate?: boolean;
  importAppointmentType: string;
  importTaskType: string;
}

export function initialValues(existing: MailboxConfig | undefined): FormValues {
  return {
    url: existing?.url ?? '',
    username: existing?.username ?? '',
    password: '',
    ...(existing?.addressTags ? { addressTags: existing.addressTags } : {}),
    ...(existing?.activityTags ? { activityTags: existing.activityTags } : {}),
    pastDays: existing?.pastDays !== undefined ? String(existing.pastDays) : '',
    ...(existing?.syncPrivate !== undefined ? { syncPrivate: existing.syncPrivate } : {}),
    importAppointmentType: existing?.importAppointmentType ?? '',
    importTaskType: existing?.importTaskType ?? '',
  };
}

export function draftFromValues(user: CrmUser, v: FormValues): AssignmentDraft {
  return {
    user: user.id,
    url: v.url,
    username: v.username,
    // Empty password while editing = keep the stored one.
    ...(v.password !== '' ? { password: v.password } : {}),
    ...(v.addressTags ? { addressTags: v.addressTags } : {}),
    ...(v.activityTags ? { activityTags: v.activityTags } : {}),
    ...(v.pastDays.trim() ? { pastDays: v.pastDays } : {}),
    ...(v.syncPrivate !== undefined ? { syncPrivate: v.syncPrivate } : {}),
    ...(v.importAppointmentType.trim() ? { importAppointmentType: v.importAppointmentType } : {}),
    ...(v.importTaskType.trim() ? { importTaskType: v.importTaskType } : {}),
  };
}

type Result = { kind: 'idle' } | { kind: 'busy'; what: string } | { kind: 'ok'; collections: ProvisionedCollections } | { kind: 'error'; message: string };

/** A collection URL on the form's server is shown as its path, so that it fits 80 columns. */
function shortUrl(url: string, serverUrl: string): string {
  try {
    const u = new URL(url);
    return u.origin === new URL(serverUrl).origin ? u.pathname : url;
  } catch {
    return url;
  }
}

function errorMessage(err: unknown): string {
  const e = err as { message?: string; remedy?: string };
  return redactString(`${e.message ?? String(err)}${e.remedy ? `\nfix: ${e.remedy}` : ''}`);
}

export interface AssignmentFormProps {
  user: CrmUser;
  existing?: MailboxConfig;
  tags: string[];
  config: Config;
  testConnection(draft: AssignmentDraft): Promise<ProvisionedCollections>;
  save(draft: AssignmentDraft): Promise<unknown>;
  onSaved(message: string): void;
  onCancel(): void;
}

export function AssignmentForm({ user, existing, tags, config, testConnection, save, onSaved, onCancel }: AssignmentFormProps) {
  const [values, setValues, valuesRef] = useSyncState<FormValues>(() => initialValues(existing));
  const [focus, setFocus, focusRef] = useSyncState(0);
  const [result, setResult, resultRef] = useSyncState<Result>({ kind: 'idle' });
  const [picking, setPicking] = useState<'addressTags' | 'activityTags' | null>(null);
  const item = ITEMS[focus]!;
  const busy = result.kind === 'busy';

  const run = (what: string, action: () => Promise<void>) => {
    setResult({ kind: 'busy', what });
    action().catch((err: unknown) => setResult({ kind: 'error', message: errorMessage(err) }));
  };

  useInput(
    (input, key) => {
      const item = ITEMS[focusRef.current]!;
      const values = valuesRef.current;
      if (resultRef.current.kind === 'busy') return;
      if (key.escape) return onCancel();
      if (key.upArrow || (key.shift && key.tab)) return setFocus((f) => (f + ITEMS.length - 1) % ITEMS.length);
      if (key.downArrow || key.tab) return setFocus((f) => (f + 1) % ITEMS.length);
      if ((item === 'test' || item === 'save' || item === 'cancel') && (key.leftArrow || key.rightArrow)) {
        const buttons = ['test', 'save', 'cancel'];
        const b = buttons.indexOf(item) + (key.rightArrow ? 1 : -1);
        if (b >= 0 && b < 3) setFocus(ITEMS.indexOf(buttons[b] as Item));
        return;
      }
      if (item === 'syncPrivate' && (key.return || input === ' ')) {
        // default → yes → no → default
        return setValues((v) => ({ ...v, syncPrivate: v.syncPrivate === undefined ? true : v.syncPrivate ? false : undefined }));
      }
      if (!key.return) return;
      if (TEXT_FIELDS.has(item)) return setFocus((f) => f + 1);
      if (item === 'addressTags' || item === 'activityTags') return setPicking(item);
      const draft = draftFromValues(user, values);
      if (item === 'test') {
        run('Testing connection…', async () => setResult({ kind: 'ok', collections: await testConnection(draft) }));
      } else if (item === 'save') {
        run('Testing and saving…', async () => {
          await save(draft);
          onSaved(`Saved: ${values.username} @ ${values.url} for ${user.login}.`);
        });
      } else if (item === 'cancel') onCancel();
    },
    { isActive: picking === null },
  );

  if (picking) {
    const userDefault = picking === 'addressTags' ? user.addressTags : user.activityTags;
    return (
      <TagPicker
        title={`${LABELS[picking]} for ${user.login} (CRM default: ${[user.userTag, ...userDefault].join(', ')})`}
        tags={tags}
        userTag={user.userTag}
        selected={values[picking] ?? userDefault}
        onCancel={() => setPicking(null)}
        onDone={(chosen) => {
          const same = (a: string[], b: string[]) => a.length === b.length && a.every((t) => b.includes(t));
          const withUserTag = [...new Set([user.userTag, ...userDefault])];
          // Choosing exactly the CRM user's tags means "follow the CRM", no override.
          setValues((v) => ({ ...v, [picking]: same(chosen, withUserTag) ? undefined : chosen }));
          setPicking(null);
        }}
      />
    );
  }

  const tagText = (field: 'addressTags' | 'activityTags') => {
    const own = values[field];
    if (own) return [...new Set([user.userTag, ...own])].join(', ');
    return `CRM default: ${[...new Set([user.userTag, ...(field === 'addressTags' ? user.addressTags : user.activityTags)])].join(', ')}`;
  };
  const row = (it: Exclude<Item, 'test' | 'save' | 'cancel'>) => {
    const focused = item === it;
    const label = (focused ? '› ' : '  ') + LABELS[it].padEnd(15);
    let body;
    if (TEXT_FIELDS.has(it)) {
      const f = it as TextField;
      const placeholder: Record<TextField, string> = {
        url: 'https://dav.example.com/',
        username: 'login at the mailbox server',
        password: existing ? '(stored — type to replace)' : '(required)',
        pastDays: `default ${config.sync.pastDays}`,
        importAppointmentType: `CRM default: ${user.importAppointmentType}`,
        importTaskType: `CRM default: ${user.importTaskType}`,
      };
      body = (
        <TextInput
          value={values[f]}
          focus={focused && !busy}
          showCursor={focused}
          placeholder={placeholder[f]}
          {...(f === 'password' ? { mask: '*' } : {})}
          onChange={(text) => setValues((v) => ({ ...v, [f]: text }))}
        />
      );
    } else if (it === 'syncPrivate') {
      body = <Text>{values.syncPrivate === undefined ? `default (${config.sync.syncPrivate ? 'yes' : 'no'})` : values.syncPrivate ? 'yes' : 'no'}</Text>;
    } else {
      body = <Text wrap="truncate-end">{tagText(it as 'addressTags' | 'activityTags')}</Text>;
    }
    return (
      <Box key={it} height={1} width={80}>
        <Text bold={focused}>{label}</Text>
        <Box width={63}>{body}</Box>
      </Box>
    );
  };
  const button = (it: 'test' | 'save' | 'cancel', text: string) => (
    <Text inverse={item === it} bold={item === it}>{` ${text} `}</Text>
  );

  return (
    <Box flexDirection="column" width={80}>
      <Text bold wrap="truncate-end">{`Mailbox of ${user.login} (${user.name}) — ${existing ? 'edit' : 'new assignment'}`}</Text>
      <Text> </Text>
      {(['url', 'username', 'password', 'addressTags', 'activityTags', 'pastDays', 'syncPrivate', 'importAppointmentType', 'importTaskType'] as const).map(row)}
      <Text> </Text>
      <Box gap={2}>
        {button('test', 'Test connection')}
        {button('save', 'Save')}
        {button('cancel', 'Cancel')}
      </Box>
      <Box flexDirection="column" height={5} width={80}>
        {result.kind === 'busy' && <Text color="yellow">{result.what}</Text>}
        {result.kind === 'error' && <Text color="red" wrap="wrap">{'✗ ' + result.message}</Text>}
        {result.kind === 'ok' && (
          <>
            <Text color="green">✓ Connection works. Collections:</Text>
            {collectionKinds.map((k) => {
              const c = result.collections[k];
              return (
                <Text key={k} wrap="truncate-end">
                  {`  ${k.padEnd(12)} ${c.displayName} → ${shortUrl(c.url, values.url)}${c.supportsSyncToken ? '' : ' (no sync-token)'}`}
                </Text>
              );
            })}
          </>
        )}
      </Box>
      <Help keys={[['↑↓/Tab', 'move'], ['Enter', 'choose/press'], ['Space', 'toggle'], ['←→', 'buttons'], ['Esc', 'back']]} />
    </Box>
  );
}
