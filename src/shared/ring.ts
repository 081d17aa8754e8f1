// Single-producer/single-consumer ring of variable-length records in SharedArrayBuffers.
//
// Positions are unsigned 32-bit byte counters that only grow (wrapping at 2^32); the capacity is a
// power of two, so `pos & mask` is the index into the data buffer across the 2^32 wrap too.
// A record is a u32 payload length followed by the payload, padded to 8 bytes. A record never
// straddles the end of the buffer: when it would, the producer writes a length of 0xFFFFFFFF (a pad
// marker) and continues at the start.
//
// The producer publishes its write position once per burst (not per record); the consumer moves
// the read position only when it releases records (for a partition worker: after the LMDB commit),
// so a consumer that dies before releasing leaves its records in the ring for its replacement.
//
// A consumer that reads several rings (a partition worker: one ring per acceptor) sleeps on a
// doorbell the rings share: a producer that publishes while the consumer sleeps rings it.

const WRITE = 0; // published write position
const READ = 1; // released read position
const PRODUCER_SLEEPING = 2;
const RELEASED_RECORDS = 3; // records released so far (u32, wrapping): the consumer's progress
const CLOSED = 4; // set by the producer: nothing more will come
const HEADER_SLOTS = 8;

const LENGTH_BYTES = 4;
// Not 0: an empty record is legal.
const PAD_MARKER = 0xffffffff;

const align8 = (n: number) => (n + 7) & ~7;

// Doorbell slots.
const RUNG = 0; // bumped on every ring while the consumer sleeps
const CONSUMER_SLEEPING = 1;

export interface RingBuffers {
  header: SharedArrayBuffer;
  data: SharedArrayBuffer;
  /** Shared by every ring of one consumer (createDoorbell). */
  doorbell: SharedArrayBuffer;
}

/** The doorbell of one consumer, for the rings it reads (createRing). */
export function createDoorbell(): SharedArrayBuffer {
  return new SharedArrayBuffer(2 * 4);
}

/** A ring; rings read by the same consumer share its `doorbell`. */
export function createRing(capacityBytes: number, doorbell = createDoorbell()): RingBuffers {
  if (capacityBytes < 64 || (capacityBytes & (capacityBytes - 1)) !== 0 || capacityBytes > 2 ** 30) {
    throw new RangeError(`ring capacity must be a power of two from 64 to 2^30, got ${capacityBytes}`);
  }
  return {
    header: new SharedArrayBuffer(HEADER_SLOTS * 4),
    data: new SharedArrayBuffer(capacityBytes),
    doorbell,
  };
}

/**
 * Tells a ring's consumer that nothing more will come (it drains what is there, then stops): from
 * the thread that owns the producer's side, once the producer has stopped writing.
 */
export function closeRing(buffers: RingBuffers): void {
  new RingWriter(buffers).close();
}

/** Whether the consumer has released everything the producer published. */
export function isDrained(buffers: RingBuffers): boolean {
  return usedBytesOf(buffers) === 0;
}

/** Bytes in a ring that its consumer has not released yet, read from outside both ends. */
export function usedBytesOf(buffers: RingBuffers): number {
  return usedBytesIn(new Int32Array(buffers.header));
}

function usedBytesIn(header: Int32Array): number {
  return (Atomics.load(header, WRITE) - Atomics.load(header, READ)) >>> 0;
}

/** Largest payload a ring of this capacity accepts; bigger records would starve the ring. */
export function maxRecordPayload(capacityBytes: number): number {
  return capacityBytes / 4 - LENGTH_BYTES;
}

abstract class RingEnd {
  protected readonly header: Int32Array;
  protected readonly doorbell: Int32Array;
  readonly bytes: Buffer;
  readonly view: DataView;
  protected readonly capacity: number;
  protected readonly mask: number;

  constructor(buffers: RingBuffers) {
    this.header = new Int32Array(buffers.header);
    this.doorbell = new Int32Array(buffers.doorbell);
    this.bytes = Buffer.from(buffers.data);
    this.view = new DataView(buffers.data);
    this.capacity = buffers.data.byteLength;
    this.mask = this.capacity - 1;
  }

  /** Bytes in the ring that the consumer has not released yet. */
  usedBytes(): number {
    return usedBytesIn(this.header);
  }

  /** Records the consumer has released since the ring was created (u32, wrapping). */
  releasedRecords(): number {
    return Atomics.load(this.header, RELEASED_RECORDS) >>> 0;
  }

  isClosed(): boolean {
    return Atomics.load(this.header, CLOSED) === 1;
  }
}

export class RingWriter extends RingEnd {
  private writePos: number;
  private readPosSeen: number;
  private pendingPayload = -1;
  /** Records written so far, published or not (u32, wrapping); comparable with releasedRecords(). */
  writtenRecords: number;

  constructor(buffers: RingBuffers) {
    super(buffers);
    this.writePos = Atomics.load(this.header, WRITE) >>> 0;
    this.readPosSeen = Atomics.load(this.header, READ) >>> 0;
    // Exact for a new ring, and for a drained one whose producer is replaced (an acceptor's
    // inbound ring); a restarted worker's outbound ring resumes after what its predecessor
    // published and does not use this count.
    this.writtenRecords = this.releasedRecords();
  }

  /**
   * Reserves room for a payload of at most `maxPayload` bytes and returns the byte offset in
   * `bytes`/`view` where it is to be written, or -1 when the ring has no room for it now.
   */
  reserve(maxPayload: number): number {
    const need = align8(LENGTH_BYTES + maxPayload);
    const index = this.writePos & this.mask;
    const tail = this.capacity - index;
    const total = need <= tail ? need : tail + need;
    if (this.capacity - ((this.writePos - this.readPosSeen) >>> 0) < total) {
      this.readPosSeen = Atomics.load(this.header, READ) >>> 0;
      if (this.capacity - ((this.writePos - this.readPosSeen) >>> 0) < total) return -1;
    }
    if (need > tail) {
      this.view.setUint32(index, PAD_MARKER, true);
      this.writePos = (this.writePos + tail) >>> 0;
    }
    this.pendingPayload = (this.writePos & this.mask) + LENGTH_BYTES;
    return this.pendingPayload;
  }

  /** Completes the record started by the last reserve(), with its actual payload length. */
  commit(payloadLength: number): void {
    const at = this.pendingPayload - LENGTH_BYTES;
    this.view.setUint32(at, payloadLength, true);
    this.writePos = (this.writePos + align8(LENGTH_BYTES + payloadLength)) >>> 0;
    this.writtenRecords = (this.writtenRecords + 1) >>> 0;
    this.pendingPayload = -1;
  }

  /** Whether the consumer has published records it has not released yet (it will free room). */
  consumerHasWork(): boolean {
    return (Atomics.load(this.header, WRITE) >>> 0) !== (Atomics.load(this.header, READ) >>> 0);
  }

  /** Makes every committed record visible to the consumer and wakes it if it sleeps. */
  publish(): void {
    if ((Atomics.load(this.header, WRITE) >>> 0) === this.writePos) return;
    Atomics.store(this.header, WRITE, this.writePos | 0);
    if (Atomics.load(this.doorbell, CONSUMER_SLEEPING) === 1) this.ring();
  }

  /** Tells the consumer no more records will come (it drains what is there, then stops). */
  close(): void {
    Atomics.store(this.header, CLOSED, 1);
    this.ring();
  }

  private ring(): void {
    Atomics.add(this.doorbell, RUNG, 1);
    Atomics.notify(this.doorbell, RUNG);
  }

  /** Waits until the consumer releases something (or the timeout passes). */
  async waitForSpace(timeoutMs: number): Promise<void> {
    Atomics.store(this.header, PRODUCER_SLEEPING, 1);
    const seen = Atomics.load(this.header, READ);
    if ((seen >>> 0) === this.readPosSeen) {
      const result = Atomics.waitAsync(this.header, READ, seen, timeoutMs);
      if (result.async) await result.value;
    }
    Atomics.store(this.header, PRODUCER_SLEEPING, 0);
  }
}

export class RingReader extends RingEnd {
  private cursor: number;
  private writePosSeen: number;
  private unreleased = 0;
  /** Payload length of the record returned by the last next(). */
  length = 0;

  constructor(buffers: RingBuffers) {
    super(buffers);
    // A new reader (e.g. a replacement worker) starts at the last released position.
    this.cursor = Atomics.load(this.header, READ) >>> 0;
    this.writePosSeen = this.cursor;
  }

  /** Offset of the next record's payload in `bytes`/`view`, or -1 when none is published. */
  next(): number {
    if (this.cursor === this.writePosSeen) {
      this.writePosSeen = Atomics.load(this.header, WRITE) >>> 0;
      if (this.cursor === this.writePosSeen) return -1;
    }
    let index = this.cursor & this.mask;
    let length = this.view.getUint32(index, true);
    if (length === PAD_MARKER) {
      this.cursor = (this.cursor + this.capacity - index) >>> 0;
      index = 0;
      length = this.view.getUint32(0, true);
    }
    this.length = length;
    this.cursor = (this.cursor + align8(LENGTH_BYTES + length)) >>> 0;
    this.unreleased++;
    return index + LENGTH_BYTES;
  }

  /** Records read by next() and not yet released. */
  pendingRecords(): number {
    return this.unreleased;
  }

  /** Gives every record read so far back to the producer. Returns the new released count. */
  release(): number {
    const released = (this.releasedRecords() + this.unreleased) >>> 0;
    this.unreleased = 0;
    Atomics.store(this.header, RELEASED_RECORDS, released | 0);
    Atomics.store(this.header, READ, this.cursor | 0);
    if (Atomics.load(this.header, PRODUCER_SLEEPING) === 1) Atomics.notify(this.header, READ);
    return released;
  }

  /** Whether records are published that next() has not returned yet. */
  hasUnread(): boolean {
    return this.cursor !== this.writePosSeen || this.cursor !== Atomics.load(this.header, WRITE) >>> 0;
  }

  /** Sleeps until the producer publishes more, closes the ring, or the timeout passes. */
  waitForData(timeoutMs: number): Promise<void> {
    return waitForAnyRing([this], timeoutMs);
  }

  /** The doorbell this reader's ring shares with the consumer's other rings. */
  get bell(): Int32Array {
    return this.doorbell;
  }
}

/**
 * Sleeps until a producer of any of `readers` (rings sharing one doorbell, read by this thread
 * only) publishes or closes its ring, or the timeout passes.
 */
export async function waitForAnyRing(readers: readonly RingReader[], timeoutMs: number): Promise<void> {
  const bell = readers[0]!.bell;
  Atomics.store(bell, CONSUMER_SLEEPING, 1);
  // Read the bell before re-checking the rings: a publish in between then changes it, or is seen.
  const rung = Atomics.load(bell, RUNG);
  if (readers.every((reader) => !reader.hasUnread() && !reader.isClosed())) {
    const result = Atomics.waitAsync(bell, RUNG, rung, timeoutMs);
    if (result.async) await result.value;
  }
  Atomics.store(bell, CONSUMER_SLEEPING, 0);
}
