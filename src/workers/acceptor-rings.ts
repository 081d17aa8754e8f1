// A partition worker's end of one acceptor's rings: event records in, progress reports and change
// notices out, and how far each of the worker's stores has applied this ring (RingMark), so that a
// replacement loop skips the records its predecessor committed but did not release.
import { EventRecordReader } from '../shared/event-record.js';
import { NOTICE_HEADER_BYTES, PROGRESS_HEADER_BYTES, writeNoticeRecord, writeProgressRecord, type ProgressRecord } from '../shared/progress-record.js';
import { RingReader, RingWriter } from '../shared/ring.js';
import { decodeRingMark, type StoreSet } from '../shared/store.js';
import type { AcceptorLink } from '../shared/worker-task.js';

const MAX_PROGRESS_MESSAGE = 512;
const WAIT_FOR_SPACE_MS = 1000;

export class AcceptorRings {
  readonly inbound: RingReader;
  readonly records: EventRecordReader;
  private readonly outbound: RingWriter;
  /** Per key-hash bucket: 1 when a change there may have a subscriber at this acceptor. */
  readonly interest: Uint8Array;
  /** Records reported to the acceptor so far (u32, wrapping), the `from` of the next report. */
  reportedThrough: number;
  /** Notices of the last commit, waiting for its report: key bytes, encoded record, key bytes, … */
  readonly notices: Uint8Array[] = [];
  /**
   * Per owned store (slot): through which record of this ring its last commit went, or -1. Only records read before the last such mark can have been applied already.
   */
  private readonly marks: Float64Array;
  /** Whether records up to some store's mark are still ahead: only then can alreadyApplied() be true. */
  replaying: boolean;

  constructor(
    readonly acceptor: number,
    link: AcceptorLink,
    stores: StoreSet,
    ownedStores: number[],
  ) {
    this.inbound = new RingReader(link.inbound);
    this.records = new EventRecordReader(this.inbound.bytes, this.inbound.view);
    this.outbound = new RingWriter(link.outbound);
    this.interest = new Uint8Array(link.interest);
    const released = this.inbound.releasedRecords();
    this.reportedThrough = released;
    this.marks = new Float64Array(ownedStores.length).fill(-1);
    this.replaying = false;
    ownedStores.forEach((s, slot) => {
      const stored = stores.store(s).rings.getBinary(acceptor);
      if (stored === undefined) return;
      const through = decodeRingMark(stored);
      this.marks[slot] = through;
      if (isAfter(through, released)) this.replaying = true;
    });
  }

  /** Records read and not released yet, up to and including the last one read: the next mark. */
  readThrough(): number {
    return (this.inbound.releasedRecords() + this.inbound.pendingRecords()) >>> 0;
  }

  /**
   * Whether the record just read (the last next()) was committed into store `slot` by a
   * predecessor of this loop (ask only while `replaying`).
   */
  alreadyApplied(slot: number): boolean {
    const position = this.readThrough();
    let ahead = false;
    let applied = false;
    for (let s = 0; s < this.marks.length; s++) {
      const mark = this.marks[s]!;
      if (mark === -1 || !isAfter(mark, position - 1)) continue;
      ahead = true;
      if (s === slot) applied = true;
    }
    if (!ahead) this.replaying = false;
    return applied;
  }

  /** Writes the collected notices to the outbound ring (before the report that covers them). */
  async sendNotices(): Promise<void> {
    const { notices, outbound } = this;
    for (let i = 0; i < notices.length; i += 2) {
      const key = notices[i]!;
      const meta = notices[i + 1]!;
      let at: number;
      while ((at = outbound.reserve(NOTICE_HEADER_BYTES + key.length + meta.length)) === -1) {
        outbound.publish();
        await outbound.waitForSpace(WAIT_FOR_SPACE_MS);
      }
      outbound.commit(writeNoticeRecord(outbound.bytes, outbound.view, at, key, meta));
    }
    notices.length = 0;
  }

  async report(record: ProgressRecord): Promise<void> {
    if (record.message.length > MAX_PROGRESS_MESSAGE) record.message = record.message.slice(0, MAX_PROGRESS_MESSAGE);
    const maxBytes = PROGRESS_HEADER_BYTES + record.message.length * 3;
    let at: number;
    while ((at = this.outbound.reserve(maxBytes)) === -1) await this.outbound.waitForSpace(WAIT_FOR_SPACE_MS);
    this.outbound.commit(writeProgressRecord(this.outbound.bytes, this.outbound.view, at, record));
    this.outbound.publish();
  }
}

/** Whether record number `a` comes after `b` (u32 counters that wrap). */
function isAfter(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}
