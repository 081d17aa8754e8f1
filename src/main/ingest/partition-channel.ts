// An acceptor's side of its rings with one worker: it writes event records into the worker's inbound
// ring and reads the worker's progress reports from its outbound ring.
//
// When the inbound ring is full the records go to a backlog in ordinary memory (in order, so
// per-key order holds) and move into the ring as the worker frees space. The backlog is bounded by
// the in-flight windows and by HUNT_MAX_BACKLOG_BYTES, which the ingest path checks before it
// accepts a pub; the event loop never blocks on a full ring.
//
// A pub's records are published together, from the backlog too (it marks where each pub ends):
// in cluster mode the worker forwards what is published, and a pub's records of one partition must
// reach the events topic in one message (the apply side decides a re-send per pub and message,
// partition-loop.ts). Only a pub too large for the ring's free room while the worker has nothing
// else to free is published in parts.
import { eventRecordBytes, eventRecordMaxBytes, RecordKind, writeEventRecord, writeEventRecordFrom, type RecordProducer } from '../../shared/event-record.js';
import type { PubScanner } from './pub-scanner.js';
import { covers, outboundKind, ProgressKind, readNoticeRecord, readProgressRecord, type ProgressRecord } from '../../shared/progress-record.js';
import { RingReader, RingWriter, type RingBuffers } from '../../shared/ring.js';

const BACKLOG_CHUNK_BYTES = 1 << 20;
/** In the backlog, where a record's length would be: the end of a pub. */
const PUB_END = 0;

interface BacklogChunk {
  buf: Buffer;
  view: DataView;
  readAt: number;
  writeAt: number;
}

export class PartitionChannel {
  private readonly inbound: RingWriter;
  private readonly outbound: RingReader;
  private readonly backlog: BacklogChunk[] = [];
  /** Where the record being written goes (place(), placed()). */
  private placeInRing = false;
  private placeBuf: Buffer = Buffer.alloc(0);
  private placeView: DataView = new DataView(new ArrayBuffer(0));
  private placeAt = 0;
  /** Records enqueued so far, ring and backlog (u32, wrapping): compare with progress reports. */
  enqueued: number;
  /** Bytes waiting in the backlog. */
  backlogBytes = 0;
  /** Most bytes the backlog has held at once. */
  peakBacklogBytes = 0;
  /** Records that found the ring full (or a backlog ahead of them) and waited in the backlog. */
  backloggedRecords = 0;
  /** Records the worker has reported done or failed (u32, wrapping), from its progress reports. */
  settledThrough: number;
  /** Change notices received from the worker (there are none while nobody subscribes). */
  notices = 0;

  /** `link`: this acceptor's rings with `worker` (control/ring-mesh.ts). */
  constructor(
    readonly worker: number,
    link: { inbound: RingBuffers; outbound: RingBuffers },
  ) {
    this.inbound = new RingWriter(link.inbound);
    this.outbound = new RingReader(link.outbound);
    // A replacement acceptor's rings are drained, not new: count on from where they are.
    this.enqueued = this.settledThrough = this.inbound.writtenRecords;
  }

  writeEvent(
    partition: number,
    key: string,
    keyBytes: number,
    keyHash: number,
    type: string,
    ts: number,
    producer: RecordProducer,
    kind: RecordKind,
    updates: number,
    data: Uint8Array | null,
  ): void {
    this.place(eventRecordMaxBytes(keyBytes, type, producer, data));
    this.placed(writeEventRecord(this.placeBuf, this.placeView, this.placeAt, partition, key, keyHash, type, ts, producer, kind, updates, data));
  }

  /** writeEvent for an event of a scanned pub frame: key, type and data copied from `frame`. */
  writeScannedEvent(partition: number, frame: Uint8Array, scanned: PubScanner, i: number, ts: number, producer: RecordProducer): void {
    const { keyStart, keyEnd, typeStart, typeEnd, dataStart, dataEnd } = scanned;
    this.writeEventFrom(partition, frame, keyStart[i]!, keyEnd[i]!, scanned.keyHash[i]!, frame, typeStart[i]!, typeEnd[i]!, ts, producer, RecordKind.Merge, 1, frame, dataStart[i]!, dataEnd[i]!);
  }

  /** writeEvent with the key, type and data copied from byte ranges. */
  writeEventFrom(
    partition: number,
    keySource: Uint8Array,
    keyStart: number,
    keyEnd: number,
    keyHash: number,
    typeSource: Uint8Array,
    typeStart: number,
    typeEnd: number,
    ts: number,
    producer: RecordProducer,
    kind: RecordKind,
    updates: number,
    dataSource: Uint8Array,
    dataStart: number,
    dataEnd: number,
  ): void {
    this.place(eventRecordBytes(keyEnd - keyStart, typeEnd - typeStart, producer.nameBytes, dataEnd - dataStart));
    this.placed(
      writeEventRecordFrom(this.placeBuf, this.placeView, this.placeAt, partition, keySource, keyStart, keyEnd, keyHash, typeSource, typeStart, typeEnd, ts, producer, kind, updates, dataSource, dataStart, dataEnd),
    );
  }

  /**
   * Where the next record of at most `maxBytes` goes: the ring, or the backlog once anything waits
   * there (records stay in order). Sets placeBuf/placeView/placeAt; placed() then commits it.
   */
  private place(maxBytes: number): void {
    this.enqueued = (this.enqueued + 1) >>> 0;
    if (this.backlog.length === 0) {
      const at = this.inbound.reserve(maxBytes);
      if (at !== -1) {
        this.placeInRing = true;
        this.placeBuf = this.inbound.bytes;
        this.placeView = this.inbound.view;
        this.placeAt = at;
        return;
      }
    }
    const chunk = this.backlogChunkFor(4 + maxBytes);
    this.backloggedRecords++;
    this.placeInRing = false;
    this.placeBuf = chunk.buf;
    this.placeView = chunk.view;
    this.placeAt = chunk.writeAt + 4;
  }

  private placed(length: number): void {
    if (this.placeInRing) {
      this.inbound.commit(length);
      return;
    }
    const chunk = this.backlog[this.backlog.length - 1]!;
    chunk.view.setUint32(chunk.writeAt, length, true);
    chunk.writeAt += 4 + length;
    this.backlogBytes += 4 + length;
    if (this.backlogBytes > this.peakBacklogBytes) this.peakBacklogBytes = this.backlogBytes;
  }

  /** Makes the records written since the last publish visible to the worker (once per pub). */
  publish(): void {
    if (this.backlog.length === 0) {
      this.inbound.publish();
      return;
    }
    // The pub's records wait in the backlog (some maybe in the ring already): published as one from there.
    const chunk = this.backlogChunkFor(4);
    chunk.view.setUint32(chunk.writeAt, PUB_END, true);
    chunk.writeAt += 4;
    this.backlogBytes += 4;
  }

  /** Moves backlog records into the ring while it has room. */
  drainBacklog(): void {
    while (this.backlog.length > 0) {
      const chunk = this.backlog[0]!;
      while (chunk.readAt < chunk.writeAt) {
        const length = chunk.view.getUint32(chunk.readAt, true);
        if (length === PUB_END) {
          this.inbound.publish();
          chunk.readAt += 4;
          this.backlogBytes -= 4;
          continue;
        }
        const at = this.inbound.reserve(length);
        if (at === -1) {
          if (!this.inbound.consumerHasWork()) this.inbound.publish();
          return;
        }
        this.inbound.bytes.set(chunk.buf.subarray(chunk.readAt + 4, chunk.readAt + 4 + length), at);
        this.inbound.commit(length);
        chunk.readAt += 4 + length;
        this.backlogBytes -= 4 + length;
      }
      this.backlog.shift();
    }
    this.inbound.publish();
  }

  /** Reads every record the worker has published: progress reports and change notices. */
  readProgress(onReport: (report: ProgressRecord) => void, onNotice: (key: string, meta: Buffer) => void): void {
    let at: number;
    while ((at = this.outbound.next()) !== -1) {
      if (outboundKind(this.outbound.view, at) === ProgressKind.Notice) {
        const notice = readNoticeRecord(this.outbound.bytes, this.outbound.view, at);
        this.notices++;
        onNotice(notice.key, notice.meta);
        continue;
      }
      const report = readProgressRecord(this.outbound.bytes, this.outbound.view, at);
      this.settledThrough = report.through;
      onReport(report);
    }
    if (this.outbound.pendingRecords() > 0) this.outbound.release();
  }

  waitForProgress(timeoutMs: number): Promise<void> {
    return this.outbound.waitForData(timeoutMs);
  }

  /** Records enqueued and not yet reported done or failed. */
  pendingRecords(): number {
    return (this.enqueued - this.settledThrough) >>> 0;
  }

  /** Whether every record up to number `record` (an `enqueued` seen earlier) has been reported done or failed. */
  hasSettled(record: number): boolean {
    return covers(this.settledThrough, record);
  }

  /** Whether every record enqueued so far has been reported done or failed. */
  isSettled(): boolean {
    return this.settledThrough === this.enqueued;
  }

  /** Bytes waiting in the inbound ring for the worker. */
  ringDepthBytes(): number {
    return this.inbound.usedBytes();
  }

  private backlogChunkFor(bytes: number): BacklogChunk {
    const last = this.backlog[this.backlog.length - 1];
    if (last !== undefined && last.buf.length - last.writeAt >= bytes) return last;
    const buf = Buffer.allocUnsafe(Math.max(BACKLOG_CHUNK_BYTES, bytes));
    const chunk = { buf, view: new DataView(buf.buffer, buf.byteOffset, buf.length), readAt: 0, writeAt: 0 };
    this.backlog.push(chunk);
    return chunk;
  }
}
