// The routed fast path's per-pub index of open fan-out records (routed-scan.ts): key hash → the
// staged record later updates of that key may fold into. Open addressing over typed arrays and
// cleared by bumping a generation, because a Map cost more here than all the rest of folding: up
// to four lookups per event, and a full u32 hash is a heap number to V8.
//
// Keys are 32-bit hashes only; callers confirm a hit by comparing key bytes, so two keys with one
// hash at worst close each other's folds (one more record, never a wrong one).

const NONE = -1;

export class OpenFolds {
  private hashes = new Int32Array(0);
  private records = new Int32Array(0);
  /** The generation each slot was last written in; other slots are empty. */
  private stamps = new Uint32Array(0);
  private generation = 1;
  private mask = 0;
  /** Slots written in this generation. */
  private used = 0;

  /** Makes room for `entries` distinct hashes per pub (at most half the slots fill, so probes stay short). */
  size(entries: number): void {
    let slots = 16;
    while (slots < 2 * entries) slots *= 2;
    this.hashes = new Int32Array(slots);
    this.records = new Int32Array(slots);
    this.stamps = new Uint32Array(slots);
    this.mask = slots - 1;
    this.generation = 1;
    this.used = 0;
  }

  clear(): void {
    this.used = 0;
    if (++this.generation === 0xffffffff) {
      this.stamps.fill(0);
      this.generation = 1;
    }
  }

  /** The open record for `hash`, or -1. */
  get(hash: number): number {
    const slot = this.find(hash | 0);
    return this.stamps[slot] === this.generation ? this.records[slot]! : NONE;
  }

  set(hash: number, record: number): void {
    const slot = this.find(hash | 0);
    if (this.stamps[slot] !== this.generation) {
      this.stamps[slot] = this.generation;
      this.hashes[slot] = hash | 0;
      this.used++;
    }
    this.records[slot] = record;
  }

  /** Closes the open record of `hash`, if any: later updates of that key start a new one. */
  close(hash: number): void {
    if (this.used === 0) return;
    const slot = this.find(hash | 0);
    if (this.stamps[slot] === this.generation) this.records[slot] = NONE;
  }

  /** The slot holding `hash` in this generation, or the empty slot where it would go. */
  private find(hash: number): number {
    const { hashes, stamps, generation, mask } = this;
    let slot = (hash ^ (hash >>> 15)) & mask;
    while (stamps[slot] === generation && hashes[slot] !== hash) slot = (slot + 1) & mask;
    return slot;
  }
}
