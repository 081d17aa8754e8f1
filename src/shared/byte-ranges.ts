// Copying and comparing short byte ranges (keys, types, names, small payloads) on hot paths, by
// hand: at these lengths a loop beats the call cost of Buffer.copy, set or compare.

/**
 * Copies from[start, end) to `to` at `at`; returns the length. Short ranges (most keys, types and
 * log entries) are copied by hand, which beats the call cost of Buffer.copy or set.
 */
export function copyBytes(from: Uint8Array, start: number, end: number, to: Uint8Array, at: number): number {
  const length = end - start;
  if (length > 64) {
    to.set(from.subarray(start, end), at);
    return length;
  }
  for (let i = 0; i < length; i++) to[at + i] = from[start + i]!;
  return length;
}

/** Whether a[aStart, aStart + length) and b[bStart, bStart + length) hold the same bytes. */
export function sameBytes(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}
