// Lets the control thread terminate a partition worker's thread only outside LMDB calls that must
// not be cut short: a thread terminated while opening its stores or inside a synchronous write
// transaction never finishes ending (lmdb-js's teardown waits for the write lock the thread itself
// holds: kriszyp/lmdb-js#336) or aborts the process. Two Int32 slots in shared memory, used like
// Dekker's flags: the worker raises INSIDE, then backs off while HOLD is up; the control thread
// raises HOLD, then waits for INSIDE to fall. Whichever comes second sees the other's flag.
const INSIDE = 0;
const HOLD = 1;

export class TerminationGuard {
  private readonly flags: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.flags = new Int32Array(buffer);
  }

  static create(): SharedArrayBuffer {
    return new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
  }

  /** Worker side: runs `call` where a termination must not land; waits first while one is pending. */
  critical<T>(call: () => T): T {
    const { flags } = this;
    for (;;) {
      Atomics.store(flags, INSIDE, 1);
      if (Atomics.load(flags, HOLD) === 0) break;
      Atomics.store(flags, INSIDE, 0);
      Atomics.wait(flags, HOLD, 1);
    }
    try {
      return call();
    } finally {
      Atomics.store(flags, INSIDE, 0);
    }
  }

  /** Control side: no critical call starts until release(); resolves true once none runs, false after `timeoutMs`. */
  async hold(timeoutMs: number): Promise<boolean> {
    Atomics.store(this.flags, HOLD, 1);
    const deadline = Date.now() + timeoutMs;
    while (Atomics.load(this.flags, INSIDE) === 1) {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return true;
  }

  release(): void {
    Atomics.store(this.flags, HOLD, 0);
    Atomics.notify(this.flags, HOLD);
  }
}
