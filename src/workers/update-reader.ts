// Reads a resolved update document (update-ops.ts) straight from the ring into a flat list of
// operations, without msgpackr: the front end writes these documents itself (routes.ts), so their
// shape is known — a map of operator → map of path → value — and operator names and paths repeat
// from event to event and are interned. Values are decoded by a small MessagePack reader covering
// what the front end writes (nil, booleans, numbers, strings, arrays, maps with string keys);
// anything else (binary, extensions) makes `read` return false and the caller
// decodes the document with msgpackr instead.
import { arrayHeaderBytes, collectionSize, mapHeaderBytes, numberBytes, readNumber, stringHeaderBytes, stringLength, valueEnd } from '../shared/msgpack-scalars.js';
import { sameBytes } from '../shared/byte-ranges.js';
import type { Utf8Buffer } from '../shared/utf8-buffer.js';
import type { Utf8Interner } from '../shared/utf8-interner.js';
import { UPDATE_OPERATORS, type UpdateOperator } from '../shared/update-ops.js';

/**
 * The operators by the length of their names, with their names' bytes: an operator is told from
 * its length and bytes, not interned, and read as the operator's own string literal, which V8 has
 * internalised, so the operators' `switch` compares pointers, not contents.
 */
const OPERATORS_BY_LENGTH: { operator: UpdateOperator; bytes: Uint8Array }[][] = [];
for (const operator of UPDATE_OPERATORS) (OPERATORS_BY_LENGTH[operator.length] ??= []).push({ operator, bytes: Buffer.from(operator) });

/** Thrown inside the reader for a value it does not cover; `read` turns it into false. */
const UNSUPPORTED = Symbol('unsupported MessagePack');

export class UpdateReader {
  /** The operations of the last document read, in order. */
  count = 0;
  readonly operators: UpdateOperator[] = [];
  readonly paths: string[] = [];
  readonly values: unknown[] = [];
  private buf!: Utf8Buffer;
  private view!: DataView;
  private at = 0;

  /** `names` interns paths and map keys; `strings` string values (repeated ones, such as zones, are shared). */
  constructor(
    private readonly names: Utf8Interner,
    private readonly strings: Utf8Interner,
  ) {}

  /**
   * Reads the document at buf[start, end); false when it holds something only msgpackr reads.
   * `existing`: the record exists, so `$setOnInsert` operations are passed over (not decoded).
   */
  read(buf: Utf8Buffer, view: DataView, start: number, end: number, existing = false): boolean {
    this.buf = buf;
    this.view = view;
    this.at = start;
    this.count = 0;
    try {
      const groups = this.mapSize();
      for (let g = 0; g < groups; g++) {
        const operator = this.operator();
        if (operator === undefined) return false;
        const operations = this.mapSize();
        if (existing && operator === '$setOnInsert') {
          this.skipEntries(operations);
          continue;
        }
        for (let i = 0; i < operations; i++) {
          const n = this.count++;
          this.operators[n] = operator;
          this.paths[n] = this.string(true);
          this.values[n] = this.value();
        }
      }
    } catch (error) {
      if (error === UNSUPPORTED) return false;
      throw error;
    }
    return this.at === end;
  }

  /** Forgets the values read (they may be large), keeping the arrays for reuse. */
  clear(): void {
    const { values, count } = this;
    for (let i = 0; i < count; i++) values[i] = undefined;
    this.count = 0;
  }

  private mapSize(): number {
    return this.collectionSize(mapHeaderBytes(this.buf[this.at]!));
  }

  /** The size of the map or array at the cursor (`header`: its header's bytes, 0 if it is not one); the cursor moves past the header. */
  private collectionSize(header: number): number {
    if (header === 0) throw UNSUPPORTED;
    const size = collectionSize(this.buf, this.view, this.at);
    this.at += header;
    return size;
  }

  /** Moves past the string at the cursor; returns where its bytes start (they end at the cursor). */
  private stringStart(): number {
    const header = stringHeaderBytes(this.buf[this.at]!);
    if (header === 0) throw UNSUPPORTED;
    const start = this.at + header;
    this.at = start + stringLength(this.buf, this.view, this.at);
    return start;
  }

  /** A string: a name (path, map key) or a value, each interned in its own table. */
  private string(name: boolean): string {
    const start = this.stringStart();
    return (name ? this.names : this.strings).intern(this.buf, start, this.at);
  }

  /** The operator named at the cursor; undefined for a name that is none. */
  private operator(): UpdateOperator | undefined {
    const start = this.stringStart();
    const candidates = OPERATORS_BY_LENGTH[this.at - start];
    if (candidates === undefined) return undefined;
    for (let i = 0; i < candidates.length; i++) {
      const { operator, bytes } = candidates[i]!;
      if (sameBytes(bytes, 0, this.buf, start, bytes.length)) return operator;
    }
    return undefined;
  }

  private value(): unknown {
    const buf = this.buf;
    const head = buf[this.at]!;
    const size = numberBytes(head);
    if (size > 0) {
      const value = readNumber(buf, this.view, this.at);
      this.at += size;
      return value;
    }
    if (stringHeaderBytes(head) > 0) return this.string(false);
    if (mapHeaderBytes(head) > 0) return this.map();
    const arrayHeader = arrayHeaderBytes(head);
    if (arrayHeader > 0) return this.array(this.collectionSize(arrayHeader));
    this.at++;
    switch (head) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      default:
        throw UNSUPPORTED;
    }
  }

  /** Moves past `entries` map entries (a string name and a value each), checking them as `value` would, decoding nothing. */
  private skipEntries(entries: number): void {
    const { buf, view } = this;
    for (let i = 0; i < entries; i++) {
      if (stringHeaderBytes(buf[this.at]!) === 0) throw UNSUPPORTED;
      const end = valueEnd(buf, view, valueEnd(buf, view, this.at));
      if (end === -1) throw UNSUPPORTED;
      this.at = end;
    }
  }

  private array(size: number): unknown[] {
    const items = new Array<unknown>(size);
    for (let i = 0; i < size; i++) items[i] = this.value();
    return items;
  }

  private map(): Record<string, unknown> {
    const size = this.mapSize();
    const map: Record<string, unknown> = {};
    for (let i = 0; i < size; i++) {
      const name = this.string(true);
      const value = this.value();
      // As a plain assignment, "__proto__" would set the prototype: define it as data instead.
      if (name === '__proto__') Object.defineProperty(map, name, { value, enumerable: true, writable: true, configurable: true });
      else map[name] = value;
    }
    return map;
  }
}
