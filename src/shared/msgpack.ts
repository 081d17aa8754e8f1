// One configuration of msgpackr for the whole engine: standard MessagePack only (no records
// extension), so any MessagePack decoder can read what we write, on the wire and in LMDB.
import { Packr } from 'msgpackr';

export const msgpack = new Packr({ useRecords: false, mapsAsObjects: true });
