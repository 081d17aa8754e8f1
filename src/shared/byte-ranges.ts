// Copying and comparing short byte ranges (keys, types, names, small payloads) on hot paths, by
// hand: at these lengths that beats the call cost of Buffer.copy, set or compare.

/** Past these lengths set() wins: its call cost no longer dominates (byte loop, word copy). */
const NATIVE_AFTER_BYTE_LOOP = 64;
const NATIVE_AFTER_WORD_COPY = 256;
/** Shorter ranges than this are copied byte by byte by copyBytesInto too. */
const WORD_COPY_BYTES = 8;

/** Copies from[start, end) to `to` at `at`; returns the length. */
export function copyBytes(from: Uint8Array, start: number, end: number, to: Uint8Array, at: number): number {
  const length = end - start;
  if (length > NATIVE_AFTER_BYTE_LOOP) {
    to.set(from.subarray(start, end), at);
    return length;
  }
  for (let i = 0; i < length; i++) to[at + i] = from[start + i]!;
  return length;
}

/**
 * copyBytes into a target whose DataView the caller keeps (a ring, a log segment, a writer's
 * buffer): from WORD_COPY_BYTES up it copies four bytes at a time, faster than the byte loop and
 * than set() on a subarray, which allocates (measured:
 * docs/performance.md#measurements-behind-design-decisions). The source's view comes from a few
 * kept for the last arrays copied from: the callers copy from few (a pub's frame, the fan-out keys,
 * a writer's buffer, a ring).
 */
export function copyBytesInto(from: Uint8Array, start: number, end: number, to: Uint8Array, toView: DataView, at: number): number {
  const length = end - start;
  if (length > NATIVE_AFTER_WORD_COPY) {
    to.set(from.subarray(start, end), at);
    return length;
  }
  let i = 0;
  if (length >= WORD_COPY_BYTES) {
    const source = viewOf(from);
    for (; i + 4 <= length; i += 4) toView.setInt32(at + i, source.getInt32(start + i));
  }
  for (; i < length; i++) to[at + i] = from[start + i]!;
  return length;
}

const KEPT_VIEWS = 4;
const viewedArrays: (Uint8Array | null)[] = new Array<Uint8Array | null>(KEPT_VIEWS).fill(null);
const keptViews: DataView[] = new Array<DataView>(KEPT_VIEWS);
let nextKept = 0;

/** A DataView of `bytes`, from the few kept for the arrays last copied from. */
function viewOf(bytes: Uint8Array): DataView {
  for (let i = 0; i < KEPT_VIEWS; i++) if (viewedArrays[i] === bytes) return keptViews[i]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  viewedArrays[nextKept] = bytes;
  keptViews[nextKept] = view;
  nextKept = (nextKept + 1) % KEPT_VIEWS;
  return view;
}

/** Whether a[aStart, aStart + length) and b[bStart, bStart + length) hold the same bytes. */
export function sameBytes(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}
