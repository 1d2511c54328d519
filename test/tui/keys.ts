// Keyboard input and waiting helpers for ink-testing-library.
import { expect } from 'vitest';

export const KEY = { up: '\u001B[A', down: '\u001B[B', left: '\u001B[D', right: '\u001B[C', enter: '\r', tab: '\t', esc: '\u001B', space: ' ' };

export const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the frame satisfies `check` (it must eventually), returning that frame. Then lets
 * the screen settle: Ink attaches a new screen's key handler in an effect after the frame is
 * drawn, and keys sent before that are not seen (as with a person, who looks first).
 */
export async function waitForFrame(lastFrame: () => string | undefined, check: (frame: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const frame = lastFrame() ?? '';
    if (check(frame)) {
      await tick(250);
      return frame;
    }
    if (Date.now() > end) expect.fail(`screen never showed ${what}; last frame:\n${frame}`);
    await tick(20);
  }
}

/** Types keys one at a time, letting Ink re-render between them. */
export async function press(stdin: { write(data: string): void }, ...keys: string[]): Promise<void> {
  for (const k of keys) {
    stdin.write(k);
    await tick();
  }
}

/** Moves to the next form field and waits until the focus marker is on `label`. */
export async function nextField(app: { stdin: { write(data: string): void }; lastFrame(): string | undefined }, label: string): Promise<void> {
  await press(app.stdin, KEY.tab);
  await waitForFrame(app.lastFrame, (f) => f.includes('› ' + label), `focus on ${label}`);
}

/** The screen fits an 80×24 terminal. */
export function expectFits80x24(frame: string): void {
  const lines = frame.split('\n');
  expect(lines.length).toBeLessThanOrEqual(24);
  for (const l of lines) expect([...l].length, `line too wide: ${l}`).toBeLessThanOrEqual(80);
}
