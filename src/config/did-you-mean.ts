// "Did you mean …?" for keys: one helper for config.json and exchange files, so a typo like
// `maxDeletePrecent` is refused with the key that was meant instead of being silently ignored.
import { closest, distance } from 'fastest-levenshtein';

/** The known key closest to `key`, when it is close enough to be a typo (else undefined). */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  if (!known.length) return undefined;
  const lower = key.toLowerCase();
  const exactCase = known.find((k) => k.toLowerCase() === lower);
  if (exactCase) return exactCase;
  const best = closest(lower, known.map((k) => k.toLowerCase()));
  const hit = known.find((k) => k.toLowerCase() === best)!;
  // A typo changes a few characters; a different word changes most of them. Keys of three
  // letters or fewer are too short to tell a typo from another word.
  if (hit.length < 4) return undefined;
  const allowed = Math.max(1, Math.min(3, Math.floor(hit.length / 4)));
  if (distance(lower, best) <= allowed) return hit;
  // Two neighbouring letters swapped ("titel") is one typo, though Levenshtein counts two.
  const swapped = known.find((k) => isSwap(lower, k.toLowerCase()));
  return swapped;
}

function isSwap(a: string, b: string): boolean {
  if (a.length !== b.length || a.length < 4) return false;
  const diff: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff.push(i);
  return diff.length === 2 && diff[1] === diff[0]! + 1 && a[diff[0]!] === b[diff[1]!] && a[diff[1]!] === b[diff[0]!];
}

/** ` (did you mean "x"?)`, or '' when nothing is close. */
export function didYouMean(key: string, known: readonly string[]): string {
  const hit = closestKey(key, known);
  return hit ? ` (did you mean "${hit}"?)` : '';
}
