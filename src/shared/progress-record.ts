// The ring record a worker sends back to the front end after each batch: how far through its
// inbound ring it is done, counted in records (u32, wrapping), and whether that stretch failed.
//
//   0 u32 kind   4 u32 from (records)   8 u32 through (records)   12 u32 message bytes   16 message
export const enum ProgressKind {
  /** Records up to `through` are applied and as durable as the durability mode promises. */
  Done = 1,
  /** Records in (from, through] were not applied; `message` says why. */
  Failed = 2,
}

export const PROGRESS_HEADER_BYTES = 16;

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
