// What one `useInput` call means as a list of editing keys. Ink splits the terminal's input only
// at escape sequences, so keys typed faster than it reads them (tmux send-keys, a paste, a fast
// typist, three quick Backspaces) arrive as ONE string: "abc\t", "\x7f\x7f\x7f", "x\r". Ink
// reports such a string as plain text, and a text field would store the Tab or the DEL
// characters. Here every character of it becomes its key again, and control characters that are
// no editing key are dropped: no C0/C1 control (U+0000–U+001F, U+007F–U+009F) ever reaches a value.
import type { Key } from 'ink';

export type EditKey =
  | { kind: 'text'; text: string }
  | { kind: 'backspace' }
  | { kind: 'next' }
  | { kind: 'previous' }
  | { kind: 'up' }
  | { kind: 'down' }
  | { kind: 'left' }
  | { kind: 'right' }
  | { kind: 'home' }
  | { kind: 'end' }
  | { kind: 'enter' }
  | { kind: 'escape' }
  | { kind: 'clear' };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Removes every C0/C1 control character (the last line of defence for stored values). */
export function stripControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
}

/** Splits a string Ink reported as text into keys: printable runs, and the controls as keys. */
export function splitTyped(input: string): EditKey[] {
  const out: EditKey[] = [];
  let run = '';
  const flush = () => {
    if (run) out.push({ kind: 'text', text: run });
    run = '';
  };
  for (const ch of input) {
    if (!CONTROL.test(ch)) {
      run += ch;
      continue;
    }
    flush();
    if (ch === '\x7f' || ch === '\b') out.push({ kind: 'backspace' });
    else if (ch === '\t') out.push({ kind: 'next' });
    else if (ch === '\r' || ch === '\n') out.push({ kind: 'enter' });
    else if (ch === '\x15') out.push({ kind: 'clear' }); // Ctrl+U
    // Any other control character (ESC remnants, NUL, C1 controls) is dropped.
  }
  flush();
  return out;
}

/** The keys of one Ink input event, in the order they were typed. */
export function editKeys(input: string, key: Key): EditKey[] {
  if (key.upArrow) return [{ kind: 'up' }];
  if (key.downArrow) return [{ kind: 'down' }];
  if (key.leftArrow) return [{ kind: 'left' }];
  if (key.rightArrow) return [{ kind: 'right' }];
  if (key.home) return [{ kind: 'home' }];
  if (key.end) return [{ kind: 'end' }];
  if (key.tab) return [{ kind: key.shift ? 'previous' : 'next' }];
  if (key.return) return [{ kind: 'enter' }];
  // Ink reports the Backspace key (DEL, 0x7f) as `delete`, like the Delete key (ESC [3~): both
  // erase the character before the cursor, as in ink-text-input.
  if (key.backspace || key.delete) return [{ kind: 'backspace' }];
  if (key.escape) return [{ kind: 'escape' }];
  if (key.ctrl) return input === 'u' ? [{ kind: 'clear' }] : [];
  // Alt+key (ESC followed by a character) and unknown escape sequences are not text.
  if (key.meta) return [];
  return splitTyped(input);
}

const NO_KEY: Key = { upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false, end: false, return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false, meta: false, super: false, hyper: false, capsLock: false, numLock: false };

/**
 * For screens that act on single keys (the user list, the tag picker): one Ink event as the
 * keys typed, each printable character alone ("jj" is j, j; "d\r" is d, Enter).
 */
export function singleKeys(input: string, key: Key): Array<[string, Key]> {
  const flagged = key.upArrow || key.downArrow || key.leftArrow || key.rightArrow || key.pageUp || key.pageDown || key.home || key.end || key.return || key.escape || key.tab || key.backspace || key.delete || key.ctrl || key.meta;
  if (flagged) return [[input, key]];
  const out: Array<[string, Key]> = [];
  for (const k of splitTyped(input)) {
    if (k.kind === 'text') for (const ch of k.text) out.push([ch, NO_KEY]);
    else if (k.kind === 'backspace') out.push(['', { ...NO_KEY, delete: true }]);
    else if (k.kind === 'next') out.push(['', { ...NO_KEY, tab: true }]);
    else if (k.kind === 'enter') out.push(['', { ...NO_KEY, return: true }]);
  }
  return out;
}
