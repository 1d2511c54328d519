import { render } from 'ink-testing-library';
import React from 'react';
import { expect, it } from 'vitest';
import { RunView } from '../../src/tui/run-view.js';

it('run --once live view: one line per mailbox with phase and items written', () => {
  const rows = new Map([
    ['mmueller', { phase: 'writing' as const, done: 12, total: 54 }],
    ['sschaefer', { phase: 'failed' as const, done: 0, total: 0 }],
  ]);
  const { lastFrame } = render(<RunView rows={rows} />);
  const frame = lastFrame() ?? '';
  expect(frame).toMatch(/writing\s+mmueller\s+12\/54 written/);
  expect(frame).toMatch(/failed\s+sschaefer/);
  for (const line of frame.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
});
