// Rebuilds test/vectors/vectors.json, the shared test vectors: frames written by independent
// encoders (Python's `msgpack`, `@msgpack/msgpack`, a hand encoder of explicit widths, JSON text),
// each with the answers the engine must give and the records it must leave. The engine's tests and
// every client's tests read the committed file; run this (`npm run vectors`) after changing a case.
//
// Expected answers are written here by hand from the protocol (docs/protocol.md), never taken from
// a running engine. A case's `~` is replaced by a tag of its own (encoder and number), so cases
// never share a key and one engine can replay them all.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode as standardEncode, ExtData } from '@msgpack/msgpack';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..');
const OUT = path.join(root, 'test/vectors/vectors.json');

// ---- values: plain JSON-like values, BigInts, binary, extensions, and explicitly wide encodings ----

type Width = 'u8' | 'u16' | 'u32' | 'u64' | 'i8' | 'i16' | 'i32' | 'i64' | 'f32' | 'f64' | 'str8' | 'str16' | 'str32' | 'arr16' | 'arr32' | 'map16' | 'map32';

/** A value the hand encoder writes in exactly this MessagePack format (the others write it as usual). */
class Wide {
  constructor(
    readonly width: Width,
    readonly value: number | bigint | string | Value[] | { [name: string]: Value },
  ) {}
}

class Ext {
  constructor(
    readonly type: number,
    readonly data: Uint8Array,
  ) {}
}

type Value = null | boolean | number | bigint | string | Uint8Array | Ext | Wide | Value[] | { [name: string]: Value };

const w = (width: Width, value: Wide['value']) => new Wide(width, value);

/** The value as the standard encoders see it (explicit widths dropped). */
function plain(value: Value): Value {
  if (value instanceof Wide) return plain(value.value as Value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array) && !(value instanceof Ext)) {
    return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, plain(item)]));
  }
  return value;
}

/** Whether JSON (and so every client's own encoder) can carry the value exactly. */
function jsonSafe(value: Value): boolean {
  if (typeof value === 'bigint' || value instanceof Uint8Array || value instanceof Ext) return false;
  if (value instanceof Wide) return jsonSafe(value.value as Value);
  if (Array.isArray(value)) return value.every(jsonSafe);
  if (value !== null && typeof value === 'object') return Object.values(value).every(jsonSafe);
  return true;
}

function retag(value: Value, tag: string): Value {
  if (typeof value === 'string') return value.replaceAll('~', tag);
  if (value instanceof Wide) return new Wide(value.width, retag(value.value as Value, tag) as Wide['value']);
  if (Array.isArray(value)) return value.map((item) => retag(item, tag));
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array) && !(value instanceof Ext)) {
    return Object.fromEntries(Object.entries(value).map(([name, item]) => [name.replaceAll('~', tag), retag(item, tag)]));
  }
  return value;
}

// ---- the hand encoder: smallest formats, except where a Wide says otherwise ----

function handEncode(value: Value): Buffer {
  const parts: Buffer[] = [];
  const head = (byte: number, size: number, write: (b: Buffer) => void) => {
    const b = Buffer.alloc(1 + size);
    b[0] = byte;
    write(b);
    parts.push(b);
  };
  const str = (text: string, width?: Width) => {
    const bytes = Buffer.from(text, 'utf8');
    const n = bytes.length;
    if (width === 'str32' || (!width && n >= 0x10000)) head(0xdb, 4, (b) => b.writeUInt32BE(n, 1));
    else if (width === 'str16' || (!width && n >= 0x100)) head(0xda, 2, (b) => b.writeUInt16BE(n, 1));
    else if (width === 'str8' || n >= 32) head(0xd9, 1, (b) => b.writeUInt8(n, 1));
    else parts.push(Buffer.from([0xa0 | n]));
    parts.push(bytes);
  };
  const collection = (n: number, fix: number, with16: number, with32: number, width?: Width) => {
    if (width?.endsWith('32') || n >= 0x10000) head(with32, 4, (b) => b.writeUInt32BE(n, 1));
    else if (width?.endsWith('16') || n >= 16) head(with16, 2, (b) => b.writeUInt16BE(n, 1));
    else parts.push(Buffer.from([fix | n]));
  };
  const int = (n: number | bigint, width?: Width): unknown => {
    if (width === 'f32') return head(0xca, 4, (b) => b.writeFloatBE(Number(n), 1));
    if (width === 'f64' || (typeof n === 'number' && !Number.isInteger(n))) return head(0xcb, 8, (b) => b.writeDoubleBE(Number(n), 1));
    const big = BigInt(n);
    switch (width) {
      case 'u8':
        return head(0xcc, 1, (b) => b.writeUInt8(Number(n), 1));
      case 'u16':
        return head(0xcd, 2, (b) => b.writeUInt16BE(Number(n), 1));
      case 'u32':
        return head(0xce, 4, (b) => b.writeUInt32BE(Number(n), 1));
      case 'u64':
        return head(0xcf, 8, (b) => b.writeBigUInt64BE(big, 1));
      case 'i8':
        return head(0xd0, 1, (b) => b.writeInt8(Number(n), 1));
      case 'i16':
        return head(0xd1, 2, (b) => b.writeInt16BE(Number(n), 1));
      case 'i32':
        return head(0xd2, 4, (b) => b.writeInt32BE(Number(n), 1));
      case 'i64':
        return head(0xd3, 8, (b) => b.writeBigInt64BE(big, 1));
    }
    if (big >= 0n && big < 128n) return parts.push(Buffer.from([Number(big)]));
    if (big < 0n && big >= -32n) return parts.push(Buffer.from([Number(big) & 0xff]));
    return int(n, big < 0n ? (big >= -128n ? 'i8' : big >= -32768n ? 'i16' : big >= -(2n ** 31n) ? 'i32' : 'i64') : big < 256n ? 'u8' : big < 65536n ? 'u16' : big < 2n ** 32n ? 'u32' : 'u64');
  };
  const write = (value: Value, width?: Width): void => {
    if (value instanceof Wide) return write(value.value as Value, value.width);
    if (value === null) return void parts.push(Buffer.from([0xc0]));
    if (typeof value === 'boolean') return void parts.push(Buffer.from([value ? 0xc3 : 0xc2]));
    if (typeof value === 'number' || typeof value === 'bigint') return void int(value, width);
    if (typeof value === 'string') return str(value, width);
    if (value instanceof Uint8Array) {
      head(0xc4, 1, (b) => b.writeUInt8(value.length, 1));
      return void parts.push(Buffer.from(value));
    }
    if (value instanceof Ext) {
      head(0xc7, 2, (b) => {
        b.writeUInt8(value.data.length, 1);
        b.writeInt8(value.type, 2);
      });
      return void parts.push(Buffer.from(value.data));
    }
    if (Array.isArray(value)) {
      collection(value.length, 0x90, 0xdc, 0xdd, width);
      for (const item of value) write(item);
      return;
    }
    const entries = Object.entries(value);
    collection(entries.length, 0x80, 0xde, 0xdf, width);
    for (const [name, item] of entries) {
      str(name);
      write(item);
    }
  };
  write(value);
  return Buffer.concat(parts);
}

// ---- the other encoders ----

type Encoder = 'python-msgpack' | '@msgpack/msgpack' | 'hand' | 'json';
const TAGS: Record<Encoder, string> = { 'python-msgpack': 'py', '@msgpack/msgpack': 'mp', hand: 'hd', json: 'js' };

function hasBigInt(value: Value): boolean {
  if (typeof value === 'bigint') return true;
  if (Array.isArray(value)) return value.some(hasBigInt);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array) && !(value instanceof Ext) && !(value instanceof Wide)) return Object.values(value).some(hasBigInt);
  return false;
}

function standardEncoder(value: Value): string {
  const toStandard = (v: Value): unknown => {
    if (v instanceof Ext) return new ExtData(v.type, v.data);
    if (Array.isArray(v)) return v.map(toStandard);
    if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) return Object.fromEntries(Object.entries(v).map(([n, i]) => [n, toStandard(i as Value)]));
    return v;
  };
  // @msgpack/msgpack writes an integer of 2^32 or more as uint64/int64 unless useBigInt64 is on
  // (then as float64): turn it on only where a BigInt must be written.
  return Buffer.from(standardEncode(toStandard(value), { useBigInt64: hasBigInt(value) })).toString('hex');
}

function pythonEncoder(values: Value[]): string[] {
  const lines = values.map((value) =>
    JSON.stringify(value, (_name, v: unknown) => {
      if (typeof v === 'bigint') return `\u0000big:${v}`;
      if (v instanceof Uint8Array) return { $bin: Buffer.from(v).toString('hex') };
      if (v instanceof Ext) return { $ext: [v.type, Buffer.from(v.data).toString('hex')] };
      return v;
    }).replace(/"\\u0000big:(-?\d+)"/g, '$1'),
  );
  const venv = path.join(root, '.venv/bin/python');
  const python = fs.existsSync(venv) ? venv : 'python3';
  const out = execFileSync(python, [path.join(root, 'test/vectors/encode.py')], { input: lines.join('\n') + '\n', encoding: 'utf8' });
  return out.trim().split('\n');
}

// ---- cases ----

/** A message sent, and what must come back (each expected message matched as a subset, in any order). */
interface StepDef {
  send?: Value;
  /** A JSON text frame exactly as written (for JSON number forms no encoder would write). */
  json?: string;
  /** Close the connection and open a new one before this step (nothing is sent). */
  reconnect?: true;
  expect?: unknown[];
}

interface CaseDef {
  name: string;
  engine: 'merge' | 'routes';
  /** Default: the two standard encoders, and JSON when every message is JSON-safe. */
  encoders?: Encoder[];
  steps: StepDef[];
  /** Key → the record it must have afterwards (a subset of its fields), or null: no record. */
  records: Record<string, unknown>;
}

const T = 1_767_225_600_000;
const MAX = Number.MAX_SAFE_INTEGER;
const ack = (id: number, more: Record<string, unknown> = {}) => ({ op: 'ack', id, ...more });
const error = (id: number | null, code: string, index?: number) => ({ op: 'error', id, code, ...(index === undefined ? {} : { index }) });
const pub = (id: number, events: Value[], more: Record<string, Value> = {}) => ({ op: 'pub', id, events, ...more });

const cases: CaseDef[] = [
  // --- pub, default merge ---
  {
    name: 'pub: ts a millisecond timestamp (uint64 from typed encoders)',
    engine: 'merge',
    steps: [{ send: pub(1, [{ key: 'player:~', type: 'join', ts: T, data: { n: 5 } }]), expect: [ack(1)] }],
    records: { 'player:~': { version: 1, count: 1, firstTs: T, lastTs: T, lastType: 'join', types: { join: 1 }, fields: { n: 5 } } },
  },
  {
    name: 'pub: data integers of every size within ±(2^53−1), at any depth',
    engine: 'merge',
    steps: [
      {
        send: pub(1, [{ key: 'k~', type: 't', ts: T, data: { small: 1, u8: 200, u16: 60_000, u32: 4_000_000_000, u40: 2 ** 40, max: MAX, neg8: -100, neg16: -30_000, neg32: -2_000_000_000, neg40: -(2 ** 40), min: -MAX, half: 2.5, nested: { list: [2 ** 33, -(2 ** 33), { deep: 2 ** 50 }] } } }]),
        expect: [ack(1)],
      },
    ],
    records: { 'k~': { version: 1, fields: { small: 1, u8: 200, u16: 60_000, u32: 4_000_000_000, u40: 2 ** 40, max: MAX, neg8: -100, neg16: -30_000, neg32: -2_000_000_000, neg40: -(2 ** 40), min: -MAX, half: 2.5, nested: { list: [2 ** 33, -(2 ** 33), { deep: 2 ** 50 }] } } } },
  },
  {
    name: 'pub: an id beyond 2^32 is echoed',
    engine: 'merge',
    steps: [{ send: pub(2 ** 40, [{ key: 'k~', type: 't', ts: T }]), expect: [ack(2 ** 40)] }],
    records: { 'k~': { version: 1, lastTs: T } },
  },
  {
    name: 'pub: uint64 2^53 in data is refused, naming the event; nothing of the pub applied',
    engine: 'merge',
    steps: [{ send: pub(1, [{ key: 'a~', type: 't' }, { key: 'b~', type: 't', data: { n: 2n ** 53n } }]), expect: [error(1, 'BAD_EVENT', 1)] }],
    records: { 'a~': null, 'b~': null },
  },
  {
    name: 'pub: int64 −2^53 nested in data is refused',
    engine: 'merge',
    steps: [{ send: pub(1, [{ key: 'k~', type: 't', data: { a: { b: [-(2n ** 53n)] } } }]), expect: [error(1, 'BAD_EVENT', 0)] }],
    records: { 'k~': null },
  },
  {
    name: 'pub: ts beyond 2^53 is refused',
    engine: 'merge',
    steps: [{ send: pub(1, [{ key: 'k~', type: 't', ts: 2n ** 60n }]), expect: [error(1, 'BAD_EVENT', 0)] }],
    records: { 'k~': null },
  },
  {
    name: 'pub: an id beyond 2^53 is refused (no id to echo)',
    engine: 'merge',
    steps: [{ send: pub(0, [{ key: 'k~', type: 't' }], { id: 2n ** 60n }), expect: [error(null, 'BAD_FRAME')] }],
    records: { 'k~': null },
  },
  {
    name: 'pub: binary data is refused',
    engine: 'merge',
    steps: [{ send: pub(1, [{ key: 'k~', type: 't', data: { b: Uint8Array.from([1, 2, 3]) } }]), expect: [error(1, 'BAD_EVENT', 0)] }],
    records: { 'k~': null },
  },
  {
    name: 'pub: an extension value in data is refused',
    engine: 'merge',
    steps: [{ send: pub(1, [{ key: 'k~', type: 't', data: { e: new Ext(5, Uint8Array.from([1])) } }]), expect: [error(1, 'BAD_EVENT', 0)] }],
    records: { 'k~': null },
  },
  {
    name: 'pub: a binary key is refused',
    engine: 'merge',
    steps: [{ send: pub(1, [{ key: Uint8Array.from([0x6b]), type: 't' }]), expect: [error(1, 'BAD_EVENT', 0)] }],
    records: {},
  },
  // --- hello + seq ---
  {
    name: 'hello + seq beyond 2^32: taken once, a re-send on a new connection is a dup',
    engine: 'merge',
    steps: [
      { send: { op: 'hello', id: 1, producer: 'producer~' }, expect: [ack(1, { seq: 0 })] },
      { send: pub(2, [{ key: 'k~', type: 't', ts: T }], { seq: 2 ** 40 }), expect: [ack(2)] },
      { reconnect: true },
      { send: { op: 'hello', id: 3, producer: 'producer~' }, expect: [ack(3, { seq: 2 ** 40 })] },
      { send: pub(4, [{ key: 'k~', type: 't', ts: T }], { seq: 2 ** 40 }), expect: [ack(4, { dup: true })] },
      { send: pub(5, [{ key: 'k~', type: 't', ts: T + 1 }], { seq: MAX }), expect: [ack(5)] },
    ],
    records: { 'k~': { version: 2, count: 2, lastTs: T + 1 } },
  },
  {
    name: 'hello + seq beyond 2^53 is refused',
    engine: 'merge',
    steps: [
      { send: { op: 'hello', id: 1, producer: 'producer~' }, expect: [ack(1, { seq: 0 })] },
      { send: pub(2, [{ key: 'k~', type: 't' }], { seq: 2n ** 60n }), expect: [error(2, 'BAD_FRAME')] },
    ],
    records: { 'k~': null },
  },
  // --- get, sub, replay ---
  {
    name: 'get: an id beyond 2^32, a record with a ms timestamp',
    engine: 'merge',
    steps: [
      { send: pub(1, [{ key: 'k~', type: 'join', ts: T, data: { big: 2 ** 40 } }]), expect: [ack(1)] },
      { send: { op: 'get', id: 2 ** 40, key: 'k~' }, expect: [{ op: 'meta', id: 2 ** 40, key: 'k~', meta: { version: 1, count: 1, firstTs: T, lastTs: T, lastType: 'join', types: { join: 1 }, fields: { big: 2 ** 40 } } }] },
      { send: { op: 'get', id: 3, key: 'none~' }, expect: [{ op: 'meta', id: 3, key: 'none~', meta: null }] },
    ],
    records: {},
  },
  {
    name: 'sub: snapshot, then an update carrying a 64-bit integer',
    engine: 'merge',
    steps: [
      { send: pub(1, [{ key: 'k~', type: 't', ts: T, data: { n: 1 } }]), expect: [ack(1)] },
      { send: { op: 'sub', id: 2, keys: ['k~'] }, expect: [ack(2), { op: 'update', key: 'k~', meta: { version: 1, fields: { n: 1 } } }] },
      { send: pub(3, [{ key: 'k~', type: 't', ts: T + 1, data: { n: 2 ** 40 } }]), expect: [ack(3), { op: 'update', key: 'k~', meta: { version: 2, lastTs: T + 1, fields: { n: 2 ** 40 } } }] },
    ],
    records: {},
  },
  {
    name: 'sub: a from beyond 2^53 is refused',
    engine: 'merge',
    steps: [{ send: { op: 'sub', id: 1, keys: ['k~'], from: 2n ** 60n }, expect: [error(1, 'BAD_FRAME')] }],
    records: {},
  },
  {
    name: 'replay: a key\'s events, with their ms timestamps and 64-bit data',
    engine: 'merge',
    steps: [
      { send: pub(1, [{ key: 'k~', type: 't', ts: T, data: { n: 2 ** 40 } }]), expect: [ack(1)] },
      { send: { op: 'replay', id: 2, key: 'k~', from: 0, limit: 10 }, expect: [{ op: 'events', id: 2, events: [{ key: 'k~', type: 't', ts: T, version: 1, data: { n: 2 ** 40 } }], next: null }] },
    ],
    records: {},
  },
  {
    name: 'replay: a limit beyond 2^53 is refused',
    engine: 'merge',
    steps: [{ send: { op: 'replay', id: 1, key: 'k~', limit: 2n ** 60n }, expect: [error(1, 'BAD_FRAME')] }],
    records: {},
  },
  // --- hand-written widths ---
  {
    name: 'pub: every MessagePack format in data (fixint, uint8–64, int8–64, float32/64, nil, bool, str8/16/32, array16/32, map16/32)',
    engine: 'merge',
    encoders: ['hand'],
    steps: [
      {
        send: pub(1, [
          {
            key: 'k~',
            type: 't',
            ts: w('u64', T),
            data: {
              fix: 7, negfix: -3, u8: w('u8', 5), u16: w('u16', 5), u32: w('u32', 5), u64: w('u64', 5), i8: w('i8', -5), i16: w('i16', -5), i32: w('i32', -5), i64: w('i64', -5),
              f32: w('f32', 1.5), f64: w('f64', 2.25), nil: null, yes: true, no: false, s8: w('str8', 'a'), s16: w('str16', 'b'), s32: w('str32', 'c'),
              a16: w('arr16', [1]), a32: w('arr32', [w('u64', 2)]), m16: w('map16', { x: 1 }), m32: w('map32', { y: w('i64', 2) }),
            },
          },
        ]),
        expect: [ack(1)],
      },
    ],
    records: {
      'k~': {
        version: 1, firstTs: T,
        fields: { fix: 7, negfix: -3, u8: 5, u16: 5, u32: 5, u64: 5, i8: -5, i16: -5, i32: -5, i64: -5, f32: 1.5, f64: 2.25, nil: null, yes: true, no: false, s8: 'a', s16: 'b', s32: 'c', a16: [1], a32: [2], m16: { x: 1 }, m32: { y: 2 } },
      },
    },
  },
  {
    name: 'pub: the message as map32, events as array32, key as str32, type as str16, id as int8, ts as int64',
    engine: 'merge',
    encoders: ['hand'],
    steps: [{ send: w('map32', { op: w('str8', 'pub'), id: w('i8', 5), events: w('arr32', [w('map16', { key: w('str32', 'k~'), type: w('str16', 't'), ts: w('i64', -5) })]) }), expect: [ack(5)] }],
    records: { 'k~': { version: 1, firstTs: -5 } },
  },
  {
    name: 'pub: uint64 2^53−1 and int64 −(2^53−1) are taken',
    engine: 'merge',
    encoders: ['hand'],
    steps: [{ send: pub(1, [{ key: 'k~', type: 't', data: { hi: w('u64', MAX), lo: w('i64', -MAX) } }]), expect: [ack(1)] }],
    records: { 'k~': { fields: { hi: MAX, lo: -MAX } } },
  },
  {
    name: 'pub: uint64 2^53 as ts is refused',
    engine: 'merge',
    encoders: ['hand'],
    steps: [{ send: pub(1, [{ key: 'k~', type: 't', ts: w('u64', 2n ** 53n) }]), expect: [error(1, 'BAD_EVENT', 0)] }],
    records: { 'k~': null },
  },
  {
    name: 'pub: an id and a seq as uint64, replay partition and limit as int64',
    engine: 'merge',
    encoders: ['hand'],
    steps: [
      { send: { op: 'hello', id: w('u64', 1), producer: 'producer~' }, expect: [ack(1, { seq: 0 })] },
      { send: { op: 'pub', id: w('u64', 2), seq: w('u64', 7), events: [{ key: 'k~', type: 't' }] }, expect: [ack(2)] },
      { send: { op: 'replay', id: w('u64', 3), partition: w('i64', 0), from: w('u64', 0), limit: w('i64', 1) }, expect: [{ op: 'events', id: 3, partition: 0 }] },
    ],
    records: { 'k~': { version: 1 } },
  },
  {
    name: 'pub: a nil ts is refused',
    engine: 'merge',
    encoders: ['hand'],
    steps: [{ send: pub(1, [{ key: 'k~', type: 't', ts: null }]), expect: [error(1, 'BAD_EVENT', 0)] }],
    records: { 'k~': null },
  },
  // --- JSON number forms ---
  {
    name: 'json: 1e3 as ts, 1.0 as id, -0 and 1.0 in data',
    engine: 'merge',
    encoders: ['json'],
    steps: [{ json: '{"op":"pub","id":1.0,"events":[{"key":"k~","type":"t","ts":1e3,"data":{"z":-0,"one":1.0,"e":2.5e-1}}]}', expect: [ack(1)] }],
    records: { 'k~': { firstTs: 1000, fields: { z: 0, one: 1, e: 0.25 } } },
  },
  {
    name: 'json: an integer beyond 2^53 in data is a double (JSON numbers are IEEE doubles)',
    engine: 'merge',
    encoders: ['json'],
    steps: [{ json: '{"op":"pub","id":1,"events":[{"key":"k~","type":"t","data":{"n":9007199254740993}}]}', expect: [ack(1)] }],
    records: { 'k~': { fields: { n: 9007199254740992 } } },
  },
  {
    name: 'json: 1e400 as ts (not finite) is refused',
    engine: 'merge',
    encoders: ['json'],
    steps: [{ json: '{"op":"pub","id":1,"events":[{"key":"k~","type":"t","ts":1e400}]}', expect: [error(1, 'BAD_EVENT', 0)] }],
    records: { 'k~': null },
  },
  {
    name: 'json: a fractional id is refused',
    engine: 'merge',
    encoders: ['json'],
    steps: [{ json: '{"op":"pub","id":1.5,"events":[{"key":"k~","type":"t"}]}', expect: [error(null, 'BAD_FRAME')] }],
    records: { 'k~': null },
  },
  // --- with routes (examples/treasure-hunt.routes.json) ---
  {
    name: 'routes: join then a clue found with 64-bit points and ms timestamps, fan-out included',
    engine: 'routes',
    steps: [
      {
        send: pub(1, [
          { key: 'player:~', type: 'join', ts: T, data: { hunt: 'h~', name: 'Ann' } },
          { key: 'player:~', type: 'clue.found', ts: T + 1, data: { hunt: 'h~', clue: 'c1', points: 2 ** 40, zone: 'north' } },
        ]),
        expect: [ack(1)],
      },
      {
        send: { op: 'replay', id: 2, key: 'player:~', from: 0, limit: 10 },
        expect: [{ op: 'events', id: 2, events: [{ key: 'player:~', type: 'join', ts: T, version: 1, fanOut: false }, { key: 'player:~', type: 'clue.found', ts: T + 1, version: 2, fanOut: false }] }],
      },
    ],
    records: {
      'player:~': { version: 2, count: 2, firstTs: T, lastTs: T + 1, lastType: 'clue.found', fields: { name: 'Ann', hunt: 'h~', joinedAt: T, points: 2 ** 40, clues: 1, bestFind: 2 ** 40, zones: ['north'], lastClueAt: T + 1 } },
      'hunt:h~': { version: 2, fields: { players: 1, playerKeys: ['player:~'], finds: 1, recentFinds: [{ player: 'player:~', clue: 'c1', points: 2 ** 40 }] } },
      'clue:h~:c1': { version: 1, fields: { firstFinder: 'player:~', firstFoundAt: T + 1, finds: 1 } },
      'zone:h~:north': { version: 1, fields: { finds: 1, points: 2 ** 40 } },
    },
  },
  {
    name: 'routes: points beyond 2^53 are refused, fan-out included',
    engine: 'routes',
    steps: [{ send: pub(1, [{ key: 'player:~', type: 'clue.found', ts: T, data: { hunt: 'h~', clue: 'c1', points: 2n ** 60n, zone: 'north' } }]), expect: [error(1, 'BAD_EVENT', 0)] }],
    records: { 'player:~': null, 'hunt:h~': null, 'zone:h~:north': null },
  },
  {
    name: 'routes: an event no route takes is refused ("unmatched": "reject")',
    engine: 'routes',
    steps: [{ send: pub(1, [{ key: 'player:~', type: 'join', data: { hunt: 'h~', name: 'Ann' } }, { key: 'player:~', type: 'dance' }]), expect: [error(1, 'BAD_EVENT', 1)] }],
    records: { 'player:~': null, 'hunt:h~': null },
  },
];

// ---- the file ----

interface VectorStep {
  reconnect?: true;
  encoding?: 'msgpack' | 'json';
  /** MessagePack as hex, or the JSON text. */
  frame?: string;
  /** The message as JSON, where JSON holds it exactly: clients encode it themselves and must get the same answers. */
  message?: unknown;
  expect?: unknown[];
}

function build(): unknown {
  const out: unknown[] = [];
  // The Python frames are made in one run of the interpreter.
  const pythonWanted: Value[] = [];
  const pythonSlots: { step: VectorStep; at: number }[] = [];
  cases.forEach((definition, number) => {
    const safe = definition.steps.every((step) => step.send === undefined || jsonSafe(step.send));
    const encoders = definition.encoders ?? (['python-msgpack', '@msgpack/msgpack', ...(safe ? ['json' as const] : [])] as Encoder[]);
    for (const encoder of encoders) {
      const tag = `${TAGS[encoder]}${number}`;
      const fill = (value: unknown) => JSON.parse(JSON.stringify(value).replaceAll('~', tag)) as unknown;
      const steps = definition.steps.map((step): VectorStep => {
        if (step.reconnect) return { reconnect: true };
        const expect = fill(step.expect ?? []) as unknown[];
        if (step.json !== undefined) return { encoding: 'json', frame: step.json.replaceAll('~', tag), message: JSON.parse(step.json.replaceAll('~', tag)), expect };
        const value = retag(step.send!, tag);
        const message = jsonSafe(value) ? plain(value) : undefined;
        const vector: VectorStep = { encoding: encoder === 'json' ? 'json' : 'msgpack', frame: '', ...(message === undefined ? {} : { message }), expect };
        if (encoder === 'json') vector.frame = JSON.stringify(message);
        else if (encoder === 'hand') vector.frame = handEncode(value).toString('hex');
        else if (encoder === '@msgpack/msgpack') vector.frame = standardEncoder(plain(value));
        else {
          pythonSlots.push({ step: vector, at: pythonWanted.length });
          pythonWanted.push(plain(value));
        }
        return vector;
      });
      out.push({ name: `${definition.name} [${encoder}]`, engine: definition.engine, encoder, steps, records: fill(definition.records) });
    }
  });
  const frames = pythonEncoder(pythonWanted);
  for (const { step, at } of pythonSlots) step.frame = frames[at]!;
  return {
    about: [
      'Shared test vectors of the Treasure Hunt Engine wire protocol (v1), rebuilt by test/vectors/generate.ts.',
      'Run each case on its own connection to an engine started with the environment of its "engine"; steps in order.',
      'A step sends its frame (MessagePack as hex in a binary frame, or JSON text) and waits for every "expect" message, in any order.',
      '"reconnect": close the connection and open a new one. Expected values match as subsets: every field of an expected map must be present and match; arrays match item by item.',
      'Afterwards each key of "records" must have that record (a subset, read over GET /v1/keys/:key), or none (null: 404).',
      '"message" is the frame as JSON where JSON holds it exactly: a client encodes it with its own encoder and must get the same answers.',
    ],
    engines: {
      merge: { HUNT_LOG_RETENTION_EVENTS: '1000' },
      routes: { HUNT_ROUTES: 'examples/treasure-hunt.routes.json', HUNT_LOG_RETENTION_EVENTS: '1000' },
    },
    cases: out,
  };
}

fs.writeFileSync(OUT, JSON.stringify(build(), null, 1) + '\n');
console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
