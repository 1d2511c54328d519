// The key splitter of the configure form: what one Ink input event means as keys.
import type { Key } from 'ink';
import { describe, expect, it } from 'vitest';
import { editKeys, splitTyped, stripControls } from '../../src/tui/keys.js';

const none: Key = { upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false, end: false, return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false, meta: false, super: false, hyper: false, capsLock: false, numLock: false };

describe('splitTyped', () => {
  it('three quick Backspaces in one chunk are three Backspaces, not three DEL characters', () => {
    expect(splitTyped('abc\x7f\x7f\x7f')).toEqual([{ kind: 'text', text: 'abc' }, { kind: 'backspace' }, { kind: 'backspace' }, { kind: 'backspace' }]);
  });
  it('Tab and Enter inside a chunk are keys in their place', () => {
    expect(splitTyped('https://x/\tanna\r')).toEqual([{ kind: 'text', text: 'https://x/' }, { kind: 'next' }, { kind: 'text', text: 'anna' }, { kind: 'enter' }]);
  });
  it('drops every other C0 and C1 control character, keeps non-ASCII text', () => {
    expect(splitTyped('\x00M\u00fcl\x1bler\x85\x9f\x07')).toEqual([{ kind: 'text', text: 'M\u00fcl' }, { kind: 'text', text: 'ler' }]);
    expect(stripControls('a\x00b\x7fc\x9fd\u00a0e')).toBe('abcd\u00a0e');
  });
});

describe('editKeys', () => {
  it('maps Ink keys; Ctrl+letters and Alt+letters are never text', () => {
    expect(editKeys('', { ...none, delete: true })).toEqual([{ kind: 'backspace' }]);
    expect(editKeys('', { ...none, tab: true, shift: true })).toEqual([{ kind: 'previous' }]);
    expect(editKeys('a', { ...none, ctrl: true })).toEqual([]);
    expect(editKeys('u', { ...none, ctrl: true })).toEqual([{ kind: 'clear' }]);
    expect(editKeys('x', { ...none, meta: true })).toEqual([]);
    expect(editKeys('abc\x7f', none)).toEqual([{ kind: 'text', text: 'abc' }, { kind: 'backspace' }]);
  });
});

describe('assignment validation (the same rule for `users assign`)', () => {
  it('refuses a server URL or username with a control character, naming it and its position', async () => {
    const { checkMailboxUrl, controlCharacter } = await import('../../src/assignments/validate.js');
    expect(checkMailboxUrl('https://dav.example.com/abc\x7f\x7f')).toBe(
      'contains the invisible control character U+007F at position 28; type the URL again (a terminal may have sent Backspace or Delete as a character)',
    );
    expect(checkMailboxUrl('https://dav.example.com/')).toBeNull();
    expect(controlCharacter('anna\x1b')).toBe('U+001B at position 5');
    expect(controlCharacter('Müller')).toBeNull();
  });
});
