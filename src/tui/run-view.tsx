// Live progress of `run --once` in a terminal (Ink): one line per mailbox with its phase and
// items written. Rendered on stderr so stdout keeps the summary.
import { Box, Text, render } from 'ink';
import React from 'react';
import type { SyncEvent, SyncPhase } from '../sync/engine.js';

interface Row {
  phase: SyncPhase;
  done: number;
  total: number;
}

const COLOR: Partial<Record<SyncPhase, string>> = { failed: 'red', done: 'green' };

export function RunView({ rows }: { rows: Map<string, Row> }) {
  return (
    <Box flexDirection="column">
      {[...rows.entries()].map(([user, r]) => (
        <Text key={user}>
          <Text color={COLOR[r.phase] ?? 'yellow'}>{r.phase.padEnd(10)}</Text> {user.padEnd(16)} {r.total > 0 ? `${r.done}/${r.total} written` : ''}
        </Text>
      ))}
    </Box>
  );
}

export function startRunView(stream: NodeJS.WriteStream = process.stderr): { update(e: SyncEvent): void; stop(): void } {
  const rows = new Map<string, Row>();
  const app = render(<RunView rows={rows} />, { stdout: stream, patchConsole: false });
  let stopped = false;
  return {
    update(e) {
      if (stopped || e.type === 'mailbox-done') return;
      const row = rows.get(e.user) ?? { phase: 'waiting', done: 0, total: 0 };
      if (e.type === 'phase') row.phase = e.phase;
      else {
        row.done = e.done;
        row.total = e.total;
      }
      rows.set(e.user, row);
      app.rerender(<RunView rows={new Map(rows)} />);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      app.rerender(<RunView rows={new Map(rows)} />);
      app.unmount();
    },
  };
}
