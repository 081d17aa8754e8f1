// MessagePack numbers and string headers read in place, for the readers that walk MessagePack bytes
// themselves (the front end's pub scanner, the worker's flat merge and update reader) instead of
// calling msgpackr. Integers of every width are numbers (DESIGN.md, Interop): encoders in other
// languages write any integer of 2^32 or more as uint64/int64. One beyond ±(2^53−1), which no
// number holds exactly, reads as NaN, so the front end's readers decline it to the general path
// (which refuses it, naming the field) and nothing past them ever meets one.

/** Bytes the number whose head byte is `head` takes, head included; 0 when it is not one covered here. */
export function numberBytes(head: number): number {
  if (head < 0x80 || head >= 0xe0) return 1;
  switch (head) {
    case 0xcc:
    case 0xd0:
      return 2;
    case 0xcd:
    case 0xd1:
      return 3;
    case 0xce:
    case 0xd2:
    case 0xca:
      return 5;
    case 0xcb:
    case 0xcf:
    case 0xd3:
      return 9;
    default:
      return 0;
  }
}

/**
 * The number at `at` (numberBytes(buf[at]) must be above 0 and in bounds); NaN for a 64-bit
 * integer beyond ±(2^53−1).
 */
export function readNumber(buf: Uint8Array, view: DataView, at: number): number {
  const head = buf[at]!;
  if (head < 0x80) return head;
  if (head >= 0xe0) return head - 0x100;
  switch (head) {
    case 0xcc:
      return buf[at + 1]!;
    case 0xcd:
      return view.getUint16(at + 1);
    case 0xce:
      return view.getUint32(at + 1);
    case 0xd0:
      return view.getInt8(at + 1);
    case 0xd1:
      return view.getInt16(at + 1);
    case 0xd2:
      return view.getInt32(at + 1);
    case 0xca:
      return view.getFloat32(at + 1);
    case 0xcb:
      return view.getFloat64(at + 1);
    default:
      return readInteger64(view, at + 1, head === 0xd3);
  }
}

/**
 * The big-endian 64-bit integer at `at` as a number, NaN beyond ±(2^53−1). High word × 2^32 is
 * exact in a double, and a sum that rounds stays beyond the safe range, so the test after it is exact.
 */
function readInteger64(view: DataView, at: number, signed: boolean): number {
  const high = signed ? view.getInt32(at) : view.getUint32(at);
  const value = high * 0x1_0000_0000 + view.getUint32(at + 4);
  return Number.isSafeInteger(value) ? value : NaN;
}

/** Bytes of the header of the string whose head byte is `head`; 0 when it is not a string. */
export function stringHeaderBytes(head: number): number {
  if ((head & 0xe0) === 0xa0) return 1;
  return head === 0xd9 ? 2 : head === 0xda ? 3 : head === 0xdb ? 5 : 0;
}

/** The byte length of the string at `at` (stringHeaderBytes(buf[at]) must be above 0, header in bounds). */
export function stringLength(buf: Uint8Array, view: DataView, at: number): number {
  const head = buf[at]!;
  if ((head & 0xe0) === 0xa0) return head & 0x1f;
  if (head === 0xd9) return buf[at + 1]!;
  return head === 0xda ? view.getUint16(at + 1) : view.getUint32(at + 1);
}

/** Bytes of the header of the map whose head byte is `head`; 0 when it is not a map. */
export function mapHeaderBytes(head: number): number {
  if ((head & 0xf0) === 0x80) return 1;
  return head === 0xde ? 3 : head === 0xdf ? 5 : 0;
}

/** Bytes of the header of the array whose head byte is `head`; 0 when it is not an array. */
export function arrayHeaderBytes(head: number): number {
  if ((head & 0xf0) === 0x90) return 1;
  return head === 0xdc ? 3 : head === 0xdd ? 5 : 0;
}

/** Entries of the map, or items of the array, at `at` (its header must be in bounds). */
export function collectionSize(buf: Uint8Array, view: DataView, at: number): number {
  const head = buf[at]!;
  if ((head & 0xe0) === 0x80) return head & 0x0f;
  return head === 0xdc || head === 0xde ? view.getUint16(at + 1) : view.getUint32(at + 1);
}

/**
 * Where the value at `at` ends; -1 when it holds something these readers do not cover (binary,
 * extensions, a map key that is not a string). Bounds are not checked: the bytes
 * are a frame the pub scanner accepted or a ring record the front end wrote.
 */
export function valueEnd(buf: Uint8Array, view: DataView, at: number): number {
  const head = buf[at]!;
  const number = numberBytes(head);
  if (number > 0) return at + number;
  const stringHeader = stringHeaderBytes(head);
  if (stringHeader > 0) return at + stringHeader + stringLength(buf, view, at);
  if (head === 0xc0 || head === 0xc2 || head === 0xc3) return at + 1;
  const mapHeader = mapHeaderBytes(head);
  const arrayHeader = arrayHeaderBytes(head);
  if (mapHeader === 0 && arrayHeader === 0) return -1;
  const size = collectionSize(buf, view, at);
  let next = at + mapHeader + arrayHeader;
  for (let i = 0; i < size; i++) {
    // A map's entries are a string name and a value each.
    if (mapHeader > 0) {
      if (stringHeaderBytes(buf[next]!) === 0) return -1;
      next = valueEnd(buf, view, next);
    }
    next = valueEnd(buf, view, next);
    if (next === -1) return -1;
  }
  return next;
}
