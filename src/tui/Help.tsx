// The keyboard help line every screen shows at the bottom.
import { Box, Text } from 'ink';

export function Help({ keys }: { keys: Array<[string, string]> }) {
  return (
    <Box borderStyle="single" borderTop borderBottom={false} borderLeft={false} borderRight={false} width={80}>
      <Text dimColor wrap="truncate-end">
        {keys.map(([k, what]) => `${k} ${what}`).join(' · ')}
      </Text>
    </Box>
  );
}
