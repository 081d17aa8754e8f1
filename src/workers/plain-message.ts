// Cluster mode: a message that a Kafka producer outside the engine wrote to the events topic (one
// without the engine's batch header, log-batch.ts). Its form is part of the public contract
// (docs/protocol.md, "Feeding the events topic from Kafka"):
//
//   key        the event's key, UTF-8
//   value      the event as a JSON object, as in a pub: {"type", "ts"?, "data"?}; "key" may be
//              left out, and if given must equal the message key
//   partition  the engine's partition of the key (partition.ts): fnv1a32(utf8(key)) mod P
//   timestamp  the event's ts when the value has none (so applying it again gives the same record)
//
// It becomes one event record, merged into its key as a pub's event is without routes: routes run
// where pubs arrive, on a host's acceptors, and fan-out to other partitions could not be applied
// here exactly once. Anything else is refused with the reason (PlainMessageError): the reader
// skips it, counts it and logs why, and the partition goes on.
import { isUtf8 } from 'node:buffer';
import { BinaryWriter } from '../shared/binary-writer.js';
import { checkEvent } from '../shared/event-checks.js';
import { eventRecordMaxBytes, EVENT_HEADER_BYTES, NO_PRODUCER } from '../shared/event-record.js';
import { lastHashedByteLength } from '../shared/partition.js';
import { ProtocolError, type Limits, type WireEvent } from '../shared/wire.js';

export class PlainMessageError extends Error {
  override name = 'PlainMessageError';
}

/** Reads one plain message at a time into its fields, for the caller to write as a record. */
export class PlainMessageReader {
  private readonly dataWriter = new BinaryWriter();
  key = '';
  keyBytes = 0;
  keyHash = 0;
  type = '';
  ts = 0;
  /** The event's data as MessagePack (valid until the next read), or null when it has none. */
  data: Uint8Array | null = null;
  /** Bytes of the event's record at most. */
  recordMaxBytes = 0;

  constructor(
    private readonly limits: Limits,
    private readonly partitions: number,
  ) {}

  /** Reads the message of `partition`; throws PlainMessageError when it is not a plain event of that partition. */
  read(partition: number, key: Buffer | null, value: Buffer | null, timestamp: string): void {
    if (key === null || key.length === 0) throw new PlainMessageError('the message has no key (the event\'s key is the message key)');
    if (!isUtf8(key)) throw new PlainMessageError('the message key is not UTF-8');
    if (value === null || value.length === 0) throw new PlainMessageError('the message has no value (a tombstone is not an event)');
    if (value.length > this.limits.maxPayloadBytes) throw new PlainMessageError(`the value is ${value.length} bytes, more than maxPayloadBytes ${this.limits.maxPayloadBytes}`);
    if (!isUtf8(value)) throw new PlainMessageError('the value is not UTF-8 JSON');
    let event: unknown;
    try {
      event = JSON.parse(value.toString('utf8'));
    } catch (error) {
      throw new PlainMessageError(`the value is not JSON: ${(error as Error).message}`);
    }
    const keyText = key.toString('utf8');
    if (typeof event === 'object' && event !== null && !Array.isArray(event)) {
      const given = (event as { key?: unknown }).key;
      if (given !== undefined && given !== keyText) throw new PlainMessageError(`the value's "key" ${JSON.stringify(given)} is not the message key ${JSON.stringify(keyText)}`);
      (event as { key?: unknown }).key = keyText;
    }
    let hash: number;
    try {
      hash = checkEvent(event, 0, this.limits, 0);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      throw new PlainMessageError(error.message.replace(/^events\[0\]/, 'the value'));
    }
    const owner = hash % this.partitions;
    if (owner !== partition) throw new PlainMessageError(`key ${JSON.stringify(keyText)} is of partition ${owner} (fnv1a32 of its UTF-8 mod ${this.partitions}), not ${partition}`);
    const { type, ts, data } = event as WireEvent;
    this.key = keyText;
    this.keyBytes = lastHashedByteLength();
    this.keyHash = hash;
    this.type = type;
    this.ts = ts ?? Number(timestamp);
    this.data = null;
    if (data !== undefined) {
      this.dataWriter.reset();
      this.dataWriter.msgpackMap(data);
      this.data = this.dataWriter.bytes();
    }
    // The rings take records up to this size (control/engine.ts checks them against the payload limit).
    this.recordMaxBytes = eventRecordMaxBytes(this.keyBytes, this.type, NO_PRODUCER, this.data);
    if (this.recordMaxBytes > this.limits.maxPayloadBytes + EVENT_HEADER_BYTES) throw new PlainMessageError(`the event is ${this.recordMaxBytes} bytes as a record, more than maxPayloadBytes ${this.limits.maxPayloadBytes}`);
  }
}
