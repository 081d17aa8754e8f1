// The stable key → partition mapping. It is part of the public contract (clients and tools compute
// it too), so it must never change for an existing data directory:
//
//   partition = fnv1a32(utf8(key)) mod P
//
// FNV-1a, 32 bit: h = 0x811c9dc5; for each byte b: h = (h XOR b) * 0x01000193 (mod 2^32).
// Hashing walks the string's code points and hashes their UTF-8 bytes directly, so no byte buffer
// is allocated per key; the UTF-8 length falls out of the same pass (used for the key-size limit).

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

let lastByteLength = 0;

/** UTF-8 byte length of the key most recently passed to {@link fnv1a32Utf8}. */
export function lastHashedByteLength(): number {
  return lastByteLength;
}

/**
 * FNV-1a of the UTF-8 encoding of `key`. Lone surrogates hash as U+FFFD, exactly as the UTF-8
 * encoder would write them (validation rejects such keys before they reach storage anyway).
 */
export function fnv1a32Utf8(key: string): number {
  let h = FNV_OFFSET;
  let bytes = 0;
  const n = key.length;
  for (let i = 0; i < n; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV_PRIME);
      bytes += 1;
      continue;
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
      bytes += 2;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = key.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        h = Math.imul(h ^ (0xf0 | (c >> 18)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | ((c >> 12) & 0x3f)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
        bytes += 4;
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    h = Math.imul(h ^ (0xe0 | (c >> 12)), FNV_PRIME);
    h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
    bytes += 3;
  }
  lastByteLength = bytes;
  return h >>> 0;
}

/** FNV-1a of UTF-8 bytes already encoded (buf[start, end)): fnv1a32Utf8 of the string they encode. */
export function fnv1a32Bytes(buf: Uint8Array, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
  return h >>> 0;
}

export function partitionOf(key: string, partitions: number): number {
  return fnv1a32Utf8(key) % partitions;
}

/**
 * Where partitions live and who writes them. A data directory has P partitions grouped into S
 * stores (LMDB environments), both fixed when it is created: partition p lives in store p mod S.
 * Each store has one owner worker per run, dealt round-robin (store s to worker s mod W), so any
 * worker count works with any store count and changing it between runs moves whole stores, never
 * rehashing a key or rewriting a store.
 */
export interface Layout {
  partitions: number;
  stores: number;
}

export function storeOf(partition: number, stores: number): number {
  return partition % stores;
}

/** Owner worker of a partition: the owner of its store. */
export function ownerOf(partition: number, layout: Layout, workers: number): number {
  return storeOf(partition, layout.stores) % workers;
}

/** The stores a worker owns (none when there are more workers than stores). */
export function storesOwnedBy(worker: number, workers: number, stores: number): number[] {
  const owned: number[] = [];
  for (let s = worker; s < stores; s += workers) owned.push(s);
  return owned;
}

/** The partitions of store `store`, in partition order. */
export function partitionsOfStore(store: number, layout: Layout): number[] {
  const partitions: number[] = [];
  for (let p = store; p < layout.partitions; p += layout.stores) partitions.push(p);
  return partitions;
}

/** The partitions a worker owns: those of its stores, in partition order. */
export function partitionsOwnedBy(worker: number, workers: number, layout: Layout): number[] {
  const owned: number[] = [];
  for (let p = 0; p < layout.partitions; p++) if (ownerOf(p, layout, workers) === worker) owned.push(p);
  return owned;
}
