// Chooses tags from the CRM's tags (checkbox list). The user tag is always on (R1, R2).
import { Box, Text, useInput } from 'ink';
import { Help } from './Help.js';
import { singleKeys } from './keys.js';
import { useSyncState } from './use-sync-state.js';

export const TAG_ROWS = 15;

export interface TagPickerProps {
  title: string;
  tags: string[];
  selected: string[];
  userTag: string;
  onDone(selected: string[]): void;
  onCancel(): void;
}

export function TagPicker({ title, tags, selected, userTag, onDone, onCancel }: TagPickerProps) {
  const [index, setIndex, indexRef] = useSyncState(0);
  const [chosen, setChosen, chosenRef] = useSyncState(() => new Set([userTag, ...selected]));
  useInput((chunk, chunkKey) => {
    for (const [input, key] of singleKeys(chunk, chunkKey)) {
      const index = indexRef.current;
      if (key.upArrow) setIndex((i) => Math.max(0, i - 1));
      else if (key.downArrow) setIndex((i) => Math.min(tags.length - 1, i + 1));
      else if (input === ' ') {
        const tag = tags[index];
        if (tag === undefined || tag === userTag) continue;
        setChosen((prev) => {
          const next = new Set(prev);
          if (next.has(tag)) next.delete(tag);
          else next.add(tag);
          return next;
        });
      } else if (key.return) return onDone(tags.filter((t) => chosenRef.current.has(t)));
      else if (key.escape) return onCancel();
    }
  });
  const first = Math.max(0, Math.min(index - Math.floor(TAG_ROWS / 2), tags.length - TAG_ROWS));
  return (
    <Box flexDirection="column" width={80}>
      <Text bold>{title}</Text>
      {tags.slice(first, first + TAG_ROWS).map((t, i) => (
        <Text key={t} inverse={first + i === index} wrap="truncate-end">
          {`${chosen.has(t) ? '[x]' : '[ ]'} ${t}${t === userTag ? '  (user tag, always on)' : ''}`}
        </Text>
      ))}
      <Text dimColor>{`${chosen.size} selected of ${tags.length}`}</Text>
      <Help keys={[['↑↓', 'move'], ['Space', 'toggle'], ['Enter', 'done'], ['Esc', 'cancel']]} />
    </Box>
  );
}
