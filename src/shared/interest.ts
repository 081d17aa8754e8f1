// The interest array: shared memory in which an acceptor flags which changes may have a subscriber
// (main/streams/subscriptions.ts) and partition workers look before producing change notices. One
// byte per bucket of key hashes (the key's FNV-1a, the partitioning hash, masked), then a slot that
// flags every key while any prefix is subscribed, then one that asks for a report of every commit
// while the acceptor runs log follows (main/streams/log-follows.ts).

/** Buckets of the interest array (a power of two): 1,000 subscribed keys flag ~0.1% of the rest. */
export const INTEREST_BUCKETS = 1 << 20;
/** The slot after the buckets: 1 while any prefix is subscribed (every key may be of interest). */
export const INTEREST_ALL = INTEREST_BUCKETS;

/**
 * The slot after that: 1 while the acceptor follows some partition's log, so every worker reports
 * each commit to it even when none of the acceptor's own records were in the batch.
 */
export const INTEREST_COMMITS = INTEREST_BUCKETS + 1;

/** Shared memory the workers read: one byte per bucket, then the ALL and COMMITS slots. */
export function createInterest(): SharedArrayBuffer {
  return new SharedArrayBuffer(INTEREST_BUCKETS + 2);
}

/** Whether a change of a key with this hash may have a subscriber. */
export function isOfInterest(interest: Uint8Array, keyHash: number): boolean {
  return interest[INTEREST_ALL] === 1 || interest[keyHash & (INTEREST_BUCKETS - 1)] === 1;
}
