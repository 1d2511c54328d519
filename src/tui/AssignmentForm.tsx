// Screen 2: one user's mailbox assignment — server, login, password (masked), tags from the
// CRM, past days, private sync, import types; Test connection, Save, Cancel.
import { Box, Text, useInput } from 'ink';
import { editKeys, stripControls, type EditKey } from './keys.js';
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
const BUTTONS: Item[] = ['test', 'save', 'cancel'];
const isButton = (it: Item) => BUTTONS.includes(it);
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

/** A one-line text field: the value (or its mask) with an inverse cursor; the placeholder when empty. */
function TextField({ value, cursor, placeholder, mask }: { value: string; cursor: number | null; placeholder: string; mask: boolean }) {
  const shown = mask ? '*'.repeat(value.length) : value;
  if (cursor === null) return shown ? <Text wrap="truncate-end">{shown}</Text> : <Text dimColor>{placeholder}</Text>;
  if (!shown) {
    return (
      <Text>
        <Text inverse>{placeholder[0] ?? ' '}</Text>
        <Text dimColor>{placeholder.slice(1)}</Text>
      </Text>
    );
  }
  const at = Math.min(cursor, shown.length);
  // Long values scroll so that the cursor stays in view (the field is 62 columns wide).
  const first = Math.max(0, at - 61);
  return (
    <Text>
      {shown.slice(first, at)}
      <Text inverse>{shown[at] ?? ' '}</Text>
      {shown.slice(at + 1, first + 62)}
    </Text>
  );
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
  const [picking, setPicking, pickingRef] = useSyncState<'addressTags' | 'activityTags' | null>(null);
  // The cursor in the focused text field (at its end when the field gets the focus).
  const [cursor, setCursor, cursorRef] = useSyncState(() => initialValues(existing).url.length);
  const item = ITEMS[focus]!;
  const busy = result.kind === 'busy';

  const run = (what: string, action: () => Promise<void>) => {
    setResult({ kind: 'busy', what });
    action().catch((err: unknown) => setResult({ kind: 'error', message: errorMessage(err) }));
  };

  /** One key, applied to the latest state (refs): keys of one chunk act in the order typed. */
  const apply = (k: EditKey): 'stop' | void => {
    const item = ITEMS[focusRef.current]!;
    const values = valuesRef.current;
    const moveTo = (f: number) => {
      // Up/Down/Tab go through the fields, then the buttons, and stop at both ends: they never
      // wrap from the server URL to Cancel (a person typing on would type into nothing).
      const next = Math.max(0, Math.min(ITEMS.length - 1, f));
      setFocus(next);
      const it = ITEMS[next]!;
      if (TEXT_FIELDS.has(it)) setCursor(valuesRef.current[it as TextField].length);
    };
    if (k.kind === 'escape') {
      onCancel();
      return 'stop';
    }
    if (k.kind === 'up' || k.kind === 'previous') return moveTo(focusRef.current - 1);
    if (k.kind === 'down' || k.kind === 'next') return moveTo(focusRef.current + 1);
    if (TEXT_FIELDS.has(item)) {
      const f = item as TextField;
      const text = values[f];
      const at = Math.min(cursorRef.current, text.length);
      const set = (next: string, cursor: number) => {
        setValues((v) => ({ ...v, [f]: next }));
        setCursor(cursor);
      };
      if (k.kind === 'text') {
        const add = stripControls(k.text);
        return set(text.slice(0, at) + add + text.slice(at), at + add.length);
      }
      if (k.kind === 'backspace') return at > 0 ? set(text.slice(0, at - 1) + text.slice(at), at - 1) : undefined;
      if (k.kind === 'clear') return set('', 0);
      if (k.kind === 'left') return setCursor(Math.max(0, at - 1));
      if (k.kind === 'right') return setCursor(Math.min(text.length, at + 1));
      if (k.kind === 'home') return setCursor(0);
      if (k.kind === 'end') return setCursor(text.length);
      if (k.kind === 'enter') return moveTo(focusRef.current + 1);
      return;
    }
    if (isButton(item) && (k.kind === 'left' || k.kind === 'right')) {
      const b = BUTTONS.indexOf(item) + (k.kind === 'right' ? 1 : -1);
      if (b >= 0 && b < BUTTONS.length) setFocus(ITEMS.indexOf(BUTTONS[b]!));
      return;
    }
    if (item === 'syncPrivate' && (k.kind === 'enter' || k.kind === 'text')) {
      // default → yes → no → default, once per Enter or Space (spaces typed together each count)
      const times = k.kind === 'enter' ? 1 : [...k.text].filter((ch) => ch === ' ').length;
      for (let i = 0; i < times; i++) setValues((v) => ({ ...v, syncPrivate: v.syncPrivate === undefined ? true : v.syncPrivate ? false : undefined }));
      return;
    }
    if (k.kind !== 'enter') return;
    if (item === 'addressTags' || item === 'activityTags') {
      setPicking(item);
      return 'stop';
    }
    const draft = draftFromValues(user, values);
    if (item === 'test') {
      run('Testing connection…', async () => setResult({ kind: 'ok', collections: await testConnection(draft) }));
    } else if (item === 'save') {
      run('Testing and saving…', async () => {
        await save(draft);
        onSaved(`Saved: ${values.username} @ ${values.url} for ${user.login}.`);
      });
    } else if (item === 'cancel') onCancel();
    return 'stop';
  };

  useInput(
    (input, key) => {
      for (const k of editKeys(input, key)) {
        // While a test or save runs, and after leaving the form, the rest of a chunk is not ours.
        if (resultRef.current.kind === 'busy' || pickingRef.current !== null) return;
        if (apply(k) === 'stop') return;
      }
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
      body = <TextField value={values[f]} cursor={focused && !busy ? cursor : null} placeholder={placeholder[f]} mask={f === 'password'} />;
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
