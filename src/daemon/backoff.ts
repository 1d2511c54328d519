// Retry delay of a failed mailbox: exponential, capped, with full jitter in the upper half so a
// server outage does not make every mailbox retry in the same second when it comes back.

/** Seconds until the next try after `failures` consecutive failures (1 = first failure). */
export function backoffSeconds(failures: number, baseSeconds: number, capSeconds: number, random: () => number = Math.random): number {
  const exp = Math.min(capSeconds, baseSeconds * 2 ** Math.max(0, failures - 1));
  // Half fixed, half random: never retries sooner than exp/2, never later than the cap.
  return Math.min(capSeconds, exp / 2 + random() * (exp / 2));
}

/** Offset of the first run of mailbox `index` of `count`, spread over one stagger window. */
export function staggerOffsetSeconds(index: number, count: number, windowSeconds: number): number {
  if (count <= 1) return 0;
  return (windowSeconds * index) / count;
}
