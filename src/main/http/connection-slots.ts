// HUNT_MAX_CONNECTIONS over all acceptors: each acceptor counts its open WebSockets in its own slot
// of shared memory and checks the sum before an upgrade. Two upgrades at the same instant on
// different acceptors may each see room for one, so the limit can be passed by at most one per
// acceptor for a moment. The control thread zeroes a crashed acceptor's slot (its sockets are gone).
export class ConnectionSlots {
  private readonly counts: Int32Array;

  constructor(
    counts: SharedArrayBuffer,
    private readonly acceptor: number,
    private readonly max: number,
  ) {
    this.counts = new Int32Array(counts);
  }

  /** Shared memory for `acceptors` acceptors' counts. */
  static create(acceptors: number): SharedArrayBuffer {
    return new SharedArrayBuffer(acceptors * Int32Array.BYTES_PER_ELEMENT);
  }

  /** Open WebSockets over all acceptors. */
  total(): number {
    let total = 0;
    for (let a = 0; a < this.counts.length; a++) total += Atomics.load(this.counts, a);
    return total;
  }

  full(): boolean {
    return this.total() >= this.max;
  }

  take(): void {
    Atomics.add(this.counts, this.acceptor, 1);
  }

  release(): void {
    Atomics.sub(this.counts, this.acceptor, 1);
  }
}
