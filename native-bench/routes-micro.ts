// `npm run build && node dist/native-bench/routes-micro.js front|apply [ROUTES_FILE|none] [--pub-prefixes P1,P2,…]`
//
// In-process micro-benches of the routes' two hot paths, for quick before/after comparisons while
// working on them (one thread, no sockets, no LMDB; CPU ns per event, median of 7 rounds). Their
// figures are not the engine's: `npm run bench` and `npm run bench:threads` measure that.
// - front: Ingest.pubFromFrame on the bench's hunt-shaped MessagePack pubs (100 events, 10,000
//   keys) into real rings, as the front end stages them; `none` for the plain default-merge path.
//   With --pub-prefixes, rounds alternate between an unrestricted token and a `pub` scope of those
//   prefixes (the bench's keys are `player:…`), and both are reported.
// - apply: the records a real Ingest wrote for those pubs, read and applied as a worker does
//   (update-reader.ts, update-operators.ts) to in-memory records.
import { AckTracker } from '../src/main/ingest/ack-tracker.js';
import type { Connection } from '../src/main/connections/connection.js';
import { Ingest } from '../src/main/ingest/ingest.js';
import { EVERYTHING, KeyScope, type Permissions } from '../src/main/auth/permissions.js';
import { PartitionChannel } from '../src/main/ingest/partition-channel.js';
import { Router } from '../src/main/routes/router.js';
import { loadRoutes } from '../src/main/routes/routes-file.js';
import { EventRecordReader } from '../src/shared/event-record.js';
import type { MetaRecord } from '../src/shared/metadata.js';
import { msgpack } from '../src/shared/msgpack.js';
import { RingReader } from '../src/shared/ring.js';
import { createRingMesh } from '../src/main/control/ring-mesh.js';
import { Utf8Interner } from '../src/shared/utf8-interner.js';
import { newMetaRecord } from '../src/workers/default-merge.js';
import { applyUpdateRecord, type OperationError } from '../src/workers/update-operators.js';
import { UpdateReader } from '../src/workers/update-reader.js';
import { benchEvent } from './event-shapes.js';
import { median } from './report.js';
import { seededRandom } from './random.js';

const EVENTS_PER_PUB = 100;
const KEYS = 10_000;
const PUBS = 200;
const ROUNDS = 7;

const args = process.argv.slice(2);
const prefixesAt = args.indexOf('--pub-prefixes');
const pubPrefixes = prefixesAt >= 0 ? args.splice(prefixesAt, 2)[1]!.split(',') : null;
const mode = args[0];
const routesFile = args[1] ?? new URL('../../examples/treasure-hunt.routes.json', import.meta.url).pathname;
if (mode !== 'front' && mode !== 'apply') throw new Error('usage: routes-micro.js front|apply [ROUTES_FILE|none]');
if (mode === 'apply' && routesFile === 'none') throw new Error('apply needs a routes file');

const limits = { maxInFlight: 1 << 30, maxEventsPerPub: 1000, maxPayloadBytes: 1 << 20, maxKeyBytes: 256, maxTypeBytes: 64, maxDataDepth: 8 };
const links = createRingMesh(1, 2, 64 << 20)[0]!;
const channels = links.map((link, w) => new PartitionChannel(w, link));
const rings = links.map((link) => new RingReader(link.inbound));
const ingest = new Ingest(channels, new Float64Array(16), new AckTracker(channels.length), { ...limits, layout: { partitions: 16, stores: 16 }, maxBacklogBytes: 1 << 30 });
if (routesFile !== 'none') ingest.router = new Router(loadRoutes(routesFile));
// The socket side of a connection: Ingest only counts on it while staging.
const conn = { id: 1, encoding: 'msgpack', inFlight: 0, closed: false, frames: 1, producer: null, lastSeq: 0, floodRefusals: 0, permissions: EVERYTHING, send() {}, sendEncoded() {}, bufferedBytes: () => 0, close() {} } as unknown as Connection;
const scoped: Permissions | null = pubPrefixes === null ? null : { ...EVERYTHING, pub: KeyScope.of(pubPrefixes) };

const random = seededRandom(1);
const frames = Array.from({ length: PUBS }, (_, p) => {
  const events = Array.from({ length: EVENTS_PER_PUB }, (_, i) => {
    const k = Math.floor(random() * KEYS);
    return benchEvent('hunt', `player:${k}`, k, i);
  });
  return Buffer.from(msgpack.pack({ op: 'pub', id: p + 1, events }));
});

function stage(frame: Buffer): void {
  if (!ingest.pubFromFrame(conn, frame, 'msgpack')) throw new Error('the fast path declined a bench pub');
  conn.inFlight = 0;
}

/** CPU ns per event of one run of `round` (which handles `events` events). */
function cpuNsPerEvent(round: () => void, events: number): number {
  const start = process.cpuUsage();
  round();
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / events;
}

/** CPU ns per event of `round`, median of ROUNDS after one to warm up. */
function measure(round: () => void, events: number): number {
  round();
  return median(Array.from({ length: ROUNDS }, () => cpuNsPerEvent(round, events)));
}

if (mode === 'front') {
  const round = () => {
    for (let p = 0; p < PUBS * 10; p++) {
      stage(frames[p % PUBS]!);
      if (p % 16 === 15) {
        for (const ring of rings) {
          while (ring.next() !== -1);
          ring.release();
        }
      }
    }
  };
  const events = PUBS * 10 * EVENTS_PER_PUB;
  const what = `front end, ${routesFile === 'none' ? 'no routes' : routesFile}`;
  if (scoped === null) console.log(`${what}: ${measure(round, events).toFixed(0)} ns CPU per event`);
  else {
    // Interleaved, so both see the same phases of the machine.
    const as = (permissions: Permissions) => () => {
      conn.permissions = permissions;
      return cpuNsPerEvent(round, events);
    };
    as(scoped)();
    const open: number[] = [];
    const limited: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      open.push(as(EVERYTHING)());
      limited.push(as(scoped)());
    }
    console.log(`${what}: unrestricted token ${median(open).toFixed(0)} ns CPU per event, pub scope ${JSON.stringify(pubPrefixes)} ${median(limited).toFixed(0)} ns`);
  }
} else {
  for (const frame of frames) stage(frame);
  const records: { ring: RingReader; at: number }[] = [];
  for (const ring of rings) for (let at = ring.next(); at !== -1; at = ring.next()) records.push({ ring, at });
  const readers = new Map(rings.map((ring) => [ring, new EventRecordReader(ring.bytes, ring.view)]));
  const updates = new UpdateReader(new Utf8Interner(), new Utf8Interner(1024));
  const metas = new Map<number, MetaRecord>();
  const errors: OperationError[] = [];
  const ns = measure(() => {
    for (const { ring, at } of records) {
      const reader = readers.get(ring)!;
      reader.read(at);
      let meta = metas.get(reader.keyHash);
      if (meta === undefined) metas.set(reader.keyHash, (meta = newMetaRecord(reader.ts)));
      if (!applyUpdateRecord(meta, reader, ring.view, updates, errors)) throw new Error('a document only msgpackr reads');
    }
  }, PUBS * EVENTS_PER_PUB);
  console.log(`worker apply, ${routesFile} (${(records.length / (PUBS * EVENTS_PER_PUB)).toFixed(2)} records per event): ${ns.toFixed(0)} ns CPU per event`);
}
