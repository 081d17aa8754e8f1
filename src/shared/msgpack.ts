// One configuration of msgpackr for the whole engine: standard MessagePack only (no records
// extension), so any MessagePack decoder can read what we write, on the wire and in LMDB. What it
// decodes was checked or written by the engine, so a 64-bit integer in it is within ±(2^53−1) and
// exact as a number (untrusted frames go through protocol.ts's decoder instead).
import { Packr } from 'msgpackr';

export const msgpack = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
