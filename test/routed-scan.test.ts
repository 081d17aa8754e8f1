// The routed pub fast path (main/routes/routed-scan.ts) must stage what the general path stages: the same
// records in the same order, and update documents that leave every key's record exactly as the
// general path's do. Checked differentially: two real Ingests with real rings take the same random
// MessagePack pubs, one from the frame's bytes and one decoded, and the records each wrote are
// applied with the worker's own operators; also, the pubs the fast path must leave alone.
import { isDeepStrictEqual } from 'node:util';
import t, { type Test } from 'tap';
import { seededRandom } from '../native-bench/random.js';
import { AckTracker } from '../src/main/ingest/ack-tracker.js';
import type { Connection } from '../src/main/connections/connection.js';
import { Ingest } from '../src/main/ingest/ingest.js';
import { EVERYTHING } from '../src/main/auth/permissions.js';
import { PartitionChannel } from '../src/main/ingest/partition-channel.js';
import { decodeFrame } from '../src/main/connections/protocol.js';
import { ProtocolError } from '../src/shared/wire.js';
import { Router } from '../src/main/routes/router.js';
import { loadRoutes } from '../src/main/routes/routes-file.js';
import { compileRoutes, type RouteProblem } from '../src/main/routes/routes.js';
import { EventRecordReader, RecordKind } from '../src/shared/event-record.js';
import type { MetaRecord } from '../src/shared/metadata.js';
import { msgpack } from '../src/shared/msgpack.js';
import { RingReader } from '../src/shared/ring.js';
import { createRingMesh } from '../src/main/control/ring-mesh.js';
import type { UpdateDoc } from '../src/shared/update-ops.js';
import { applyDefaultMerge, newMetaRecord } from '../src/workers/default-merge.js';
import { applyRoutedUpdate, type OperationError } from '../src/workers/update-operators.js';
import { wire } from './helpers.js';

const LIMITS = { maxInFlight: 1 << 30, maxEventsPerPub: 40, maxPayloadBytes: 1 << 20, maxKeyBytes: 48, maxTypeBytes: 24, maxDataDepth: 4 };
const PARTITIONS = 8;
const WORKERS = 2;

/** Routes using every operator, reference and template form, beside the example's. */
const EVERY_FORM = {
  unmatched: 'merge',
  routes: [
    { name: 'gone', type: 'noise.*', drop: true },
    {
      name: 'scores',
      type: 'score',
      keyPrefix: 'p:',
      require: { n: 'number', s: 'string', flag: 'boolean', tags: 'array', obj: 'map', any: 'any' },
      update: {
        $set: { last: '$data.s', 'deep.obj': '$data.obj', kind: '$type', who: '$key', at: '$ts', lit: { a: [1, 'two', { three: '$data.n' }] } },
        $inc: { count: 1, total: '$data.n' },
        $min: { lo: '$data.n' },
        $max: { hi: '$data.s' },
        $addToSet: { seen: '$data.s', several: { $each: ['$data.any', 'fixed'] } },
        $push: { recent: { $each: ['$data.n', { s: '$data.s' }], $slice: -3 }, firstFew: { $each: ['$data.tags'], $slice: 2 }, all: '$data.flag' },
        $unset: { never: '' },
      },
      also: [
        { key: 'by-s:${data.s}', update: { $inc: { n: '$data.n', c: 1 }, $push: { recent: { $each: [{ k: '$key', n: '$data.n' }], $slice: -4 } }, $setOnInsert: { first: '$key' } } },
        { key: 'by-n:${data.n}:${data.flag}', update: { $max: { hi: '$data.n' }, $min: { lo: '$ts' }, $addToSet: { keys: '$key' } } },
        { key: 'by-type:${type}:${key}', update: { $set: { lastS: '$data.s' }, $max: { str: '$data.s' } } },
        { key: 'all', update: { $inc: { events: 1 }, $addToSet: { ss: '$data.s' } } },
      ],
    },
    { name: 'nested', type: 'nested', require: { obj: 'map' }, update: { $set: { inner: '$data.obj.a' } } },
  ],
};

function router(config: unknown): Router {
  const problems: RouteProblem[] = [];
  const compiled = compileRoutes(config, problems);
  if (problems.length > 0) throw new Error(JSON.stringify(problems));
  return new Router(compiled);
}

interface Side {
  ingest: Ingest;
  channels: PartitionChannel[];
  readers: RingReader[];
  conn: Connection;
}

function side(routes: Router): Side {
  const links = createRingMesh(1, WORKERS, 8 << 20)[0]!;
  const channels = links.map((link, w) => new PartitionChannel(w, link));
  const ingest = new Ingest(channels, new Float64Array(PARTITIONS), new AckTracker(WORKERS), { ...LIMITS, layout: { partitions: PARTITIONS, stores: PARTITIONS }, maxBacklogBytes: 1 << 30 });
  ingest.router = routes;
  // The socket side of a connection: Ingest only counts on it and never sends while staging.
  const conn: Connection = {
    id: 1,
    encoding: 'msgpack',
    inFlight: 0,
    closed: false,
    frames: 1,
    producer: null,
    lastSeq: 0,
    floodRefusals: 0,
    waitingFrames: null,
    permissions: EVERYTHING,
    credential: { kind: 'none' },
    expiryTimer: null,
    send: () => {},
    sendEncoded: () => {},
    bufferedBytes: () => 0,
    cork: () => {},
    close: () => {},
  };
  return { ingest, channels, readers: links.map((link) => new RingReader(link.inbound)), conn };
}

interface Written {
  partition: number;
  key: string;
  type: string;
  ts: number;
  kind: RecordKind;
  updates: number;
  data: unknown;
}

/** Records written so far, by worker, decoded; released so the rings never fill. */
function drain(s: Side): Written[][] {
  return s.readers.map((ring) => {
    const reader = new EventRecordReader(ring.bytes, ring.view);
    const out: Written[] = [];
    for (let at = ring.next(); at !== -1; at = ring.next()) {
      reader.read(at);
      const data = reader.dataEnd === reader.dataStart ? undefined : msgpack.unpack(Buffer.from(reader.buf.subarray(reader.dataStart, reader.dataEnd)));
      out.push({ partition: reader.partition, key: reader.key(), type: reader.type, ts: reader.ts, kind: reader.kind, updates: reader.updates, data });
    }
    ring.release();
    return out;
  });
}

/** Applies records as a worker would, to `records` (key → metadata record). */
function apply(written: Written[][], records: Map<string, MetaRecord>): void {
  const errors: OperationError[] = [];
  for (const list of written) {
    for (const r of list) {
      let meta = records.get(r.key);
      if (meta === undefined) records.set(r.key, (meta = newMetaRecord(r.ts)));
      if (r.kind === RecordKind.Merge) applyDefaultMerge(meta, r.type, r.ts, (r.data as Record<string, unknown>) ?? null);
      else applyRoutedUpdate(meta, r.kind === RecordKind.Routed, r.type, r.ts, r.data as UpdateDoc, errors, r.updates);
    }
  }
}

/** Takes `frame` on both sides; returns whether the fast path took it (false: it declined). */
function takeBoth(t: Test, fast: Side, general: Side, frame: Buffer): { fastTook: boolean; outcome: string } {
  let fastTook = false;
  let fastError = '';
  try {
    fastTook = fast.ingest.pubFromFrame(fast.conn, frame, 'msgpack');
    if (!fastTook) fast.ingest.pub(fast.conn, decodeFrame(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.length) as ArrayBuffer, true) as Record<string, unknown>, 'msgpack');
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    if (fastTook) t.fail(`the fast path threw after taking a pub: ${error.message}`);
    fastError = `${error.code}: ${error.message}`;
  }
  let generalError = '';
  try {
    general.ingest.pub(general.conn, decodeFrame(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.length) as ArrayBuffer, true) as Record<string, unknown>, 'msgpack');
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    generalError = `${error.code}: ${error.message}`;
  }
  if (fastError !== generalError) t.fail(`the answers differ: fast ${JSON.stringify(fastError)}, general ${JSON.stringify(generalError)}`);
  return { fastTook, outcome: generalError };
}

// Events carry ts (without one, each side would stamp its own arrival time), from few values, so
// that fan-out updates fold (only updates of one ts do).
// One pub in five may hold odd events (refused, or only the general path's), so most are plain.
function randomPubs(random: () => number, count: number, event: (odd: boolean) => Record<string, unknown>): Buffer[] {
  const frames: Buffer[] = [];
  for (let p = 0; p < count; p++) {
    const odd = random() < 0.2;
    const events = Array.from({ length: 1 + Math.floor(random() * LIMITS.maxEventsPerPub) }, () => event(odd && random() < 0.1));
    frames.push(wire.pack({ op: 'pub', id: p + 1, events }));
  }
  return frames;
}

async function differential(t: Test, routes: () => Router, frames: Buffer[], sameRecords: boolean): Promise<number> {
  const fast = side(routes());
  const general = side(routes());
  const fastRecords = new Map<string, MetaRecord>();
  const generalRecords = new Map<string, MetaRecord>();
  let took = 0;
  for (const frame of frames) {
    if (takeBoth(t, fast, general, frame).fastTook) took++;
    const a = drain(fast);
    const b = drain(general);
    if (sameRecords) {
      // The documents may differ in form (a folded $addToSet keeps repeats here): their effect is compared below.
      const headers = (lists: Written[][]) => lists.map((list) => list.map(({ data: _, ...header }) => header));
      if (!isDeepStrictEqual(headers(a), headers(b))) {
        t.same(headers(a), headers(b), `the same records, in the same order (pub ${frames.indexOf(frame) + 1})`);
        return took;
      }
    }
    apply(a, fastRecords);
    apply(b, generalRecords);
  }
  t.same(Object.fromEntries(fastRecords), Object.fromEntries(generalRecords), 'every key ends with the same record on both paths');
  t.equal(fastRecords.size, generalRecords.size);
  return took;
}

t.test('the treasure-hunt routes: the same records in the same order, and the same results', async (t) => {
  const random = seededRandom(5);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const frames = randomPubs(random, 300, (odd) => {
    const type = pick(odd ? ['other', 'clue.found'] : ['join', 'clue.found', 'clue.found', 'finish', 'debug.x']);
    const data: Record<string, unknown> = { hunt: pick(['h1', 'h2']), name: pick(['ann', 'bo']), clue: pick(['c1', 'c2', 'c3']), points: pick([1, 2, 2.5, 70000, -3]), zone: pick(['z1', 'z2', 'zöne']) };
    if (odd) delete data[pick(['hunt', 'points', 'zone'])];
    return { key: pick(odd ? ['p:4'] : ['player:1', 'player:2', 'player:3']), type, ts: pick([1000, 1000, 1000, 2000, 1500.5]), data };
  });
  const took = await differential(t, () => new Router(loadRoutes(new URL('../../examples/treasure-hunt.routes.json', import.meta.url).pathname)), frames, true);
  t.ok(took > 100, `the fast path took most pubs (${took} of ${frames.length})`);
});

t.test('every operator, reference and template form: the same results', async (t) => {
  const random = seededRandom(9);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const frames = randomPubs(random, 400, (odd) => {
    const type = pick(odd ? ['nested', 'score'] : ['score', 'score', 'score', 'noise.a', 'plain']);
    const data: Record<string, unknown> = {
      n: pick([0, 1, -1, 2.5, 1e15, 255, 65536, -40000]),
      s: pick(['a', 'b', 'zz', '', 'ünï', 'x'.repeat(40)]),
      flag: pick([true, false]),
      tags: pick([[], ['t'], ['t', 'u']]),
      obj: pick([{ a: 1 }, { a: { b: [1, 2] } }, { $each: [1] }]),
      any: pick([null, 1, 'q', [1], { z: 1 }]),
    };
    if (odd) data.n = 'not a number';
    if (odd) delete data.any;
    return { key: pick(odd ? [`p:${'k'.repeat(44)}`] : ['p:1', 'p:2', 'p:3', 'q:1']), type, ts: pick([1000, 1000, 1000, 2000, 1500.5]), data };
  });
  const took = await differential(t, () => router(EVERY_FORM), frames, false);
  t.ok(took > 100, `the fast path took most pubs (${took} of ${frames.length})`);
});

t.test('left to the general path: what only it can answer or express', async (t) => {
  const fast = side(router({ unmatched: 'reject', routes: EVERY_FORM.routes }));
  const take = (events: unknown[]) => fast.ingest.pubFromFrame(fast.conn, wire.pack({ op: 'pub', id: 1, events }), 'msgpack');
  const good = { n: 1, s: 'a', flag: true, tags: [], obj: {}, any: null };
  t.ok(take([{ key: 'p:1', type: 'score', data: good }]), 'a plain routed pub is taken');
  t.notOk(take([{ key: 'p:1', type: 'unknown', data: good }]), 'an event no route matches, when unmatched events are rejected');
  t.notOk(take([{ key: 'p:1', type: 'score', data: { ...good, n: 'x' } }]), 'a required field of another kind');
  t.notOk(take([{ key: 'p:1', type: 'score', data: { ...good, any: undefined } }]), 'a required field missing');
  t.notOk(take([{ key: 'p:1', type: 'score' }]), 'no data at all');
  t.notOk(take([{ key: 'p:1', type: 'score', data: { ...good, s: 'x'.repeat(60) } }]), 'a fan-out key over maxKeyBytes');
  t.notOk(take([{ key: 'p:1', type: 'score', data: { ...good, s: 'a\u0000b' } }]), 'a fan-out key with NUL');
  t.notOk(take([{ key: 'p:1', type: 'nested', data: { obj: { a: 1 } } }]), 'a route reading nested data has no plan');
  const invalidUtf8 = Buffer.from(wire.pack({ op: 'pub', id: 1, events: [{ key: 'p:1', type: 'score', data: { ...good, s: 'ab' } }] }));
  invalidUtf8[invalidUtf8.indexOf(Buffer.from('ab')) + 1] = 0xff;
  t.notOk(fast.ingest.pubFromFrame(fast.conn, invalidUtf8, 'msgpack'), 'a fan-out key that is not valid UTF-8');
});
