// Wire protocol v1 (DESIGN.md): message types, error codes, frame decoding and encoding.
import { addExtension, Unpackr } from 'msgpackr';
import { BinaryWriter } from '../../shared/binary-writer.js';
import { ErrorCode, ProtocolError, type Encoding, type ServerMessage } from '../../shared/wire.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

// msgpackr always decodes its own records extension; given a structures array, it leaves the
// definitions a frame made there, which is how a frame using it is told apart (and refused).
// 64-bit integers decode as BigInts (exact), and integersAsNumbers makes numbers of those within
// ±(2^53−1); the rest stay BigInts, which validation refuses by name.
const recordStructures: object[] = [];
const frameDecoder = new Unpackr({ useRecords: false, mapsAsObjects: true, structures: recordStructures, int64AsType: 'bigint' });

/**
 * An extension type msgpackr does not know. msgpackr throws for one while decoding, which would
 * refuse the whole frame without its id; decoded as this instead, validation refuses the event
 * that holds it, by index and field, as it refuses the extensions msgpackr does know (Set, Date…).
 */
class ForeignExtension {
  constructor(readonly type: number) {}
}
/** Type bytes msgpackr decodes itself (its records, undefined, Set, Error, RegExp, timestamps…). */
const MSGPACKR_EXTENSIONS = new Set([0x00, 0x42, 0x52, 0x62, 0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x78, 0xff]);
for (let type = 0; type < 256; type++) {
  if (!MSGPACKR_EXTENSIONS.has(type)) addExtension({ type, unpack: () => new ForeignExtension(type) });
}

/** The head bytes of uint64 and int64: a frame without either byte holds no 64-bit integer. */
const UINT64 = 0xcf;
const INT64 = 0xd3;

/**
 * Deepest level (the message is level 0) at which 64-bit integers are made numbers: a pub's data
 * sits at level 3 and may nest 64 deeper (HUNT_MAX_DATA_DEPTH's most); anything deeper is refused
 * for its depth, so the walk never recurses without bound on hostile nesting.
 */
const MAX_NUMBER_LEVEL = 3 + 64 + 1;
const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);

/** Replaces, in place, every BigInt within ±(2^53−1) in a decoded message by its number. */
function integersAsNumbers(value: unknown, level: number): unknown {
  if (typeof value === 'bigint') {
    return value >= -MAX_SAFE_BIGINT && value <= MAX_SAFE_BIGINT ? Number(value) : value;
  }
  if (typeof value !== 'object' || value === null || level > MAX_NUMBER_LEVEL) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = integersAsNumbers(value[i], level + 1);
  } else {
    const map = value as Record<string, unknown>;
    for (const name in map) if (Object.hasOwn(map, name)) map[name] = integersAsNumbers(map[name], level + 1);
  }
  return value;
}

/** Decodes one frame into an untrusted value; throws ProtocolError(BAD_FRAME) when it cannot. */
export function decodeFrame(frame: ArrayBuffer, isBinary: boolean): unknown {
  let message: unknown;
  try {
    if (isBinary) {
      const bytes = new Uint8Array(frame);
      message = frameDecoder.unpack(bytes);
      if (bytes.includes(UINT64) || bytes.includes(INT64)) message = integersAsNumbers(message, 0);
    } else message = JSON.parse(utf8.decode(frame));
  } catch (error) {
    recordStructures.length = 0;
    const what = isBinary ? 'MessagePack' : 'JSON (UTF-8)';
    throw new ProtocolError(ErrorCode.BAD_FRAME, `frame is not valid ${what}: ${(error as Error).message}`);
  }
  if (recordStructures.length > 0) {
    recordStructures.length = 0;
    throw new ProtocolError(ErrorCode.BAD_FRAME, 'frame uses the msgpackr records extension; send standard MessagePack maps');
  }
  return message;
}

const messageWriter = new BinaryWriter(4096);

/**
 * A server message in `encoding`. MessagePack through BinaryWriter rather than msgpackr, which
 * writes integers of 2^32 or more (every ms timestamp) as float64: clients in typed languages
 * would then read `lastTs` or a replayed `ts` as a float. The result is a copy: one payload may go
 * to many connections.
 */
export function encodeMessage(message: ServerMessage, encoding: Encoding): string | Buffer {
  if (encoding === 'json') return JSON.stringify(message);
  messageWriter.reset();
  messageWriter.msgpackValue(message);
  return Buffer.from(messageWriter.bytes());
}

export function errorMessage(error: ProtocolError): Extract<ServerMessage, { op: 'error' }> {
  const message: Extract<ServerMessage, { op: 'error' }> = { op: 'error', id: error.id, code: error.code, message: error.message };
  if (error.index !== undefined) message.index = error.index;
  if (error.owner !== undefined) message.owner = error.owner;
  return message;
}
