// A seeded xorshift32 generator: the same seed gives the same workload (and the same fuzz frames)
// on every run, so a figure or a failure can be reproduced.
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}
