// The value of a message of the events topic in cluster mode: a batch of one partition's event
// records (event-record.ts), in the order a host's forwarder took them from its acceptors' rings.
//
//   u8 format (LOG_BATCH_FORMAT) | u32 records | per record: u32 length | record (little-endian)
//
// A batch is what Kafka stores and counts as one message (one offset); a host applying the
// partition remembers how far it got as (the message's offset, records of it applied), so a batch
// cut by a commit resumes exactly (store.ts, LogPosition).
//
// Such a message carries the header LOG_BATCH_HEADER; a message without it is an event a Kafka
// producer outside the engine wrote (workers/plain-message.ts).
export const LOG_BATCH_FORMAT = 1;
export const LOG_BATCH_HEADER = 'hunt-log-batch';
/** The headers of every batch message (one object: kafkajs only reads it). */
export const LOG_BATCH_HEADERS: Readonly<Record<string, string>> = Object.freeze({ [LOG_BATCH_HEADER]: String(LOG_BATCH_FORMAT) });
const HEADER_BYTES = 5;
const LENGTH_BYTES = 4;
const INITIAL_BYTES = 64 * 1024;

/** One partition's batch being built: records appended, then taken as a message value. */
export class LogBatchBuilder {
  private buf = Buffer.allocUnsafe(INITIAL_BYTES);
  private end = HEADER_BYTES;
  records = 0;

  /** Bytes of the batch so far. */
  get bytes(): number {
    return this.end;
  }

  /** Appends the record of `length` bytes at `at` in `source`. */
  append(source: Buffer, at: number, length: number): void {
    const need = this.end + LENGTH_BYTES + length;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.end);
      this.buf = grown;
    }
    this.buf.writeUInt32LE(length, this.end);
    source.copy(this.buf, this.end + LENGTH_BYTES, at, at + length);
    this.end = need;
    this.records++;
  }

  /** The batch as a message value (a copy: the builder is reused), and the builder emptied. */
  take(): Buffer {
    this.buf.writeUInt8(LOG_BATCH_FORMAT, 0);
    this.buf.writeUInt32LE(this.records, 1);
    const value = Buffer.from(this.buf.subarray(0, this.end));
    this.end = HEADER_BYTES;
    this.records = 0;
    return value;
  }
}

export class LogBatchError extends Error {
  override name = 'LogBatchError';
}

/** Reads the records of one message value in turn, after checking the whole value is well formed. */
export class LogBatchReader {
  private value: Buffer = Buffer.alloc(0);
  private at = 0;
  /** Records in the value. */
  count = 0;
  /** The last record next() returned: its offset and length in the value. */
  recordAt = 0;
  recordLength = 0;

  /** Starts reading `value`; throws LogBatchError (before anything is read) if it is not a well-formed batch. */
  open(value: Buffer): void {
    if (value.length < HEADER_BYTES || value[0] !== LOG_BATCH_FORMAT) throw new LogBatchError(`not a log batch of format ${LOG_BATCH_FORMAT} (first byte ${value[0]}, ${value.length} bytes)`);
    const records = value.readUInt32LE(1);
    let at = HEADER_BYTES;
    for (let i = 0; i < records; i++) {
      if (at + LENGTH_BYTES > value.length) throw new LogBatchError(`log batch cut short at record ${i} of ${records}`);
      at += LENGTH_BYTES + value.readUInt32LE(at);
    }
    if (at !== value.length) throw new LogBatchError(`log batch of ${records} records is ${value.length} bytes, its records end at ${at}`);
    this.value = value;
    this.count = records;
    this.at = HEADER_BYTES;
  }

  /** Moves to the next record (there must be one: count says how many). */
  next(): void {
    this.recordLength = this.value.readUInt32LE(this.at);
    this.recordAt = this.at + LENGTH_BYTES;
    this.at = this.recordAt + this.recordLength;
  }
}
