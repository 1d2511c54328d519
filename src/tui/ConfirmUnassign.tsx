// Unassigning removes the stored password too, so it asks first.
import { Box, Text, useInput } from 'ink';
import { useState } from 'react';
import { Help } from './Help.js';

export interface ConfirmUnassignProps {
  login: string;
  mailbox: string;
  onConfirm(): Promise<void>;
  onCancel(): void;
}

export function ConfirmUnassign({ login, mailbox, onConfirm, onCancel }: ConfirmUnassignProps) {
  const [state, setState] = useState<{ busy: boolean; error?: string }>({ busy: false });
  useInput((input, key) => {
    if (state.busy) return;
    if (input === 'y' || input === 'Y') {
      setState({ busy: true });
      onConfirm().catch((err: Error) => setState({ busy: false, error: err.message }));
    } else if (input === 'n' || input === 'N' || key.escape) onCancel();
  });
  return (
    <Box flexDirection="column" width={80}>
      <Text bold>Unassign the mailbox of {login}?</Text>
      <Text wrap="truncate-end">{mailbox}</Text>
      <Text>The assignment and its stored password are removed. Items already on the device stay there.</Text>
      {state.busy && <Text>Removing…</Text>}
      {state.error && <Text color="red">{state.error}</Text>}
      <Help keys={[['y', 'unassign'], ['n/Esc', 'keep']]} />
    </Box>
  );
}
