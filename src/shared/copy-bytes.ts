// Copying short byte ranges (keys, types, small payloads) between buffers on hot paths.

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
