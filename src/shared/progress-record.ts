// The records a worker sends back to the front end on its outbound ring. After each batch, a
// progress report: how far through its inbound ring it is done, counted in records (u32,
// wrapping), and whether that stretch failed. Before a Done report, one change notice per record
// the batch changed in a partition that has subscribers (subscriptions.ts), so subscribers see a
// change once it is as durable as an ack would say.
//
//   progress: 0 u32 kind   4 u32 from (records)   8 u32 through (records)   12 u32 message bytes   16 message
//   notice:   0 u32 kind   4 u32 key bytes   8 u32 meta bytes   12 key (UTF-8)   meta (meta-codec.ts)
export const enum ProgressKind {
  /** Records up to `through` are applied and as durable as the durability mode promises. */
  Done = 1,
  /** Records in (from, through] were not applied; `message` says why. */
  Failed = 2,
  /** A key's metadata record changed (a NoticeRecord, not a ProgressRecord). */
  Notice = 3,
  /**
   * Records in (from, through] are committed, but whether they are on disk is unknown (the fsync
   * failed): the engine must stop rather than ack them or refuse them (`message` says why).
   */
  Fatal = 4,
}

export const NOTICE_HEADER_BYTES = 12;

/** Reads the kind of the outbound record at `at`: a notice or a progress report. */
export function outboundKind(view: DataView, at: number): ProgressKind {
  return view.getUint32(at, true) as ProgressKind;
}

/** Writes a change notice; `key` and `meta` are the UTF-8 key and the encoded record. */
export function writeNoticeRecord(buf: Buffer, view: DataView, at: number, key: Uint8Array, meta: Uint8Array): number {
  view.setUint32(at, ProgressKind.Notice, true);
  view.setUint32(at + 4, key.length, true);
  view.setUint32(at + 8, meta.length, true);
  buf.set(key, at + NOTICE_HEADER_BYTES);
  buf.set(meta, at + NOTICE_HEADER_BYTES + key.length);
  return NOTICE_HEADER_BYTES + key.length + meta.length;
}

/** The key and a copy of the encoded record of the notice at `at`. */
export function readNoticeRecord(buf: Buffer, view: DataView, at: number): { key: string; meta: Buffer } {
  const keyBytes = view.getUint32(at + 4, true);
  const metaBytes = view.getUint32(at + 8, true);
  const metaAt = at + NOTICE_HEADER_BYTES + keyBytes;
  return { key: buf.toString('utf8', at + NOTICE_HEADER_BYTES, metaAt), meta: Buffer.from(buf.subarray(metaAt, metaAt + metaBytes)) };
}

export const PROGRESS_HEADER_BYTES = 16;

/** Whether a report `through` covers record number `record` (u32 counts that wrap: through - record in [0, 2^31)). */
export function covers(through: number, record: number): boolean {
  return ((through - record) | 0) >= 0;
}

export interface ProgressRecord {
  kind: ProgressKind;
  from: number;
  through: number;
  message: string;
}

export function writeProgressRecord(buf: Buffer, view: DataView, at: number, record: ProgressRecord): number {
  const messageBytes = buf.write(record.message, at + PROGRESS_HEADER_BYTES, 'utf8');
  view.setUint32(at, record.kind, true);
  view.setUint32(at + 4, record.from, true);
  view.setUint32(at + 8, record.through, true);
  view.setUint32(at + 12, messageBytes, true);
  return PROGRESS_HEADER_BYTES + messageBytes;
}

export function readProgressRecord(buf: Buffer, view: DataView, at: number): ProgressRecord {
  const messageBytes = view.getUint32(at + 12, true);
  return {
    kind: view.getUint32(at, true) as ProgressKind,
    from: view.getUint32(at + 4, true),
    through: view.getUint32(at + 8, true),
    message: messageBytes === 0 ? '' : buf.toString('utf8', at + PROGRESS_HEADER_BYTES, at + PROGRESS_HEADER_BYTES + messageBytes),
  };
}
