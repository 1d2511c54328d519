// Live progress of `run --once` in a terminal (Ink): one line per mailbox with its phase and
// items written.
import { Box, Text, render } from 'ink';
import React, { useEffect, useState } from 'react';
import type { SyncEvent, SyncPhase } from '../sync/engine.js';

interface Row {
  phase: SyncPhase;
  done: number;
  total: number;
}

type Listener = (rows: Map<string, Row>) => void;

function RunView({ subscribe }: { subscribe: (l: Listener) => void }) {
  const [rows, setRows] = useState(new Map<string, Row>());
  useEffect(() => subscribe((r) => setRows(new Map(r))), [subscribe]);
  return (
    <Box flexDirection="column">
      {[...rows.entries()].map(([user, r]) => (
        <Text key={user}>
          <Text color={r.phase === 'failed' ? 'red' : r.phase === 'done' ? 'green' : 'yellow'}>{r.phase.padEnd(10)}</Text> {user.padEnd(16)}{' '}
          {r.total > 0 ? `${r.done}/${r.total} written` : ''}
        </Text>
      ))}
    </Box>
  );
}

export function startRunView(): { update(e: SyncEvent): void; stop(): void } {
  const rows = new Map<string, Row>();
  let listener: Listener | undefined;
  const app = render(<RunView subscribe={(l) => (listener = l)} />, { stdout: process.stderr });
  let stopped = false;
  return {
    update(e) {
      if (e.type === 'mailbox-done') return;
      const row = rows.get(e.user) ?? { phase: 'waiting', done: 0, total: 0 };
      if (e.type === 'phase') row.phase = e.phase;
      else {
        row.done = e.done;
        row.total = e.total;
      }
      rows.set(e.user, row);
      listener?.(rows);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      app.unmount();
    },
  };
}
