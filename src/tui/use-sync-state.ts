// useState whose latest value is readable at once through a ref. Key handlers read the ref:
// keys that arrive faster than React re-renders (paste, tmux send-keys, fast typists) would
// otherwise act on the state of the previous render.
import { useCallback, useRef, useState } from 'react';

export function useSyncState<T>(initial: T | (() => T)): [T, (next: T | ((prev: T) => T)) => void, { readonly current: T }] {
  const [value, setValue] = useState(initial);
  const ref = useRef(value);
  const set = useCallback((next: T | ((prev: T) => T)) => {
    ref.current = typeof next === 'function' ? (next as (prev: T) => T)(ref.current) : next;
    setValue(ref.current);
  }, []);
  return [value, set, ref];
}
