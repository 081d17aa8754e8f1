// One load-generator thread: drives its share of the connections with pre-encoded MessagePack pub
// frames (only the pub id is patched per send), keeps a bounded window of unacked pubs per
// connection, and records ack latency in an HDR histogram (at a fixed offered load, from when each
// pub was due).
import { parentPort, workerData } from 'node:worker_threads';
import hdr from 'hdr-histogram-js';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { benchEvent, type EventShape } from './event-shapes.js';
import { seededRandom } from './random.js';

/** The workload: what every connection sends, and for how long. */
export interface Workload {
  url: string;
  /** Events per pub. */
  batch: number;
  keys: number;
  /** Zipf-like skew: 0 uniform; s > 0 draws key rank r with weight 1/r^s. */
  skew: number;
  /** Unacknowledged pubs per connection. */
  window: number;
  durationMs: number;
  /** Load before measuring (JIT, caches, first inserts); acks in it are not counted. */
  warmupMs: number;
  keyPrefix: string;
  /** The events' shape (event-shapes.ts). */
  shape: EventShape;
}

export interface LoadWorkerOptions extends Workload {
  /** Connections this thread drives. */
  connections: number;
  /** Pubs per second per connection; 0: as fast as the window allows. */
  pubsPerSecond: number;
  seed: number;
  framesPerConnection: number;
  /** This thread's first connection's index among all the generator's, and their number (the key split). */
  firstConnection: number;
  allConnections: number;
}

export interface LoadWorkerResult {
  ackedPubs: number;
  ackedEvents: number;
  errors: Record<string, number>;
  histogram: string;
  elapsedMs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
}

const ID_PLACEHOLDER = 0xfffffffe;
const packr = new Packr({ useRecords: false });

function keyPicker(keys: number, skew: number, random: () => number): () => number {
  if (skew === 0) return () => Math.floor(random() * keys);
  const cdf = new Float64Array(keys);
  let sum = 0;
  for (let r = 0; r < keys; r++) cdf[r] = sum += 1 / Math.pow(r + 1, skew);
  return () => {
    const x = random() * sum;
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * Uniform: the keys k ≡ connection (mod all connections), shuffled and dealt in turn, reshuffled once
 * all are dealt; so the connections' frames together hold every key.
 */
function keyDeck(options: LoadWorkerOptions, connection: number, random: () => number): () => number {
  const deck: number[] = [];
  for (let k = connection; k < options.keys; k += options.allConnections) deck.push(k);
  let next = deck.length;
  return () => {
    if (next === deck.length) {
      for (let i = deck.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [deck[i], deck[j]] = [deck[j]!, deck[i]!];
      }
      next = 0;
    }
    return deck[next++]!;
  };
}

/** Pre-encodes a connection's frames; returns each with the byte offset of its 4-byte big-endian id. */
function buildFrames(options: LoadWorkerOptions, connection: number, random: () => number): { frame: Buffer; idAt: number }[] {
  const pick = options.skew === 0 && options.keys >= options.allConnections ? keyDeck(options, connection, random) : keyPicker(options.keys, options.skew, random);
  const frames: { frame: Buffer; idAt: number }[] = [];
  for (let f = 0; f < options.framesPerConnection; f++) {
    const events = [];
    for (let i = 0; i < options.batch; i++) {
      const k = pick();
      const key = `${options.keyPrefix}${k}`;
      events.push(benchEvent(options.shape, key, k, i));
    }
    const frame = Buffer.from(packr.pack({ op: 'pub', id: ID_PLACEHOLDER, events }));
    const idAt = frame.indexOf(Buffer.from([0xce, 0xff, 0xff, 0xff, 0xfe])) + 1;
    frames.push({ frame, idAt });
  }
  return frames;
}

async function run(options: LoadWorkerOptions): Promise<LoadWorkerResult> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  const errors: Record<string, number> = {};
  let ackedPubs = 0;
  let cpu0 = process.cpuUsage();
  let start = performance.now();
  const measureFrom = start + options.warmupMs;
  const deadline = measureFrom + options.durationMs;
  let measuring = options.warmupMs === 0;

  const drive = (c: number) =>
    new Promise<void>((resolve, reject) => {
      const frames = buildFrames(options, options.firstConnection + c, seededRandom(options.seed * 7919 + c));
      const ws = new WebSocket(options.url, ['hunt.v1.msgpack']);
      const sentAt = new Float64Array(options.window * 2);
      let nextId = 0;
      let inFlight = 0;
      let stopped = false;
      const interval = options.pubsPerSecond > 0 ? 1000 / options.pubsPerSecond : 0;
      let nextSendAt = performance.now();
      let timer: NodeJS.Timeout | null = null;

      const pump = () => {
        timer = null;
        const now = performance.now();
        if (now >= deadline) stopped = true;
        while (!stopped && inFlight < options.window) {
          // At a fixed offered load a pub's latency runs from when it was due, not from when the
          // window let it go: a stalled engine delays the pubs behind it, and those waits count
          // (no coordinated omission). Unthrottled, a pub is due when it is sent.
          let dueAt = 0;
          if (interval > 0) {
            if (now < nextSendAt) {
              timer = setTimeout(pump, Math.max(0, nextSendAt - now));
              return;
            }
            dueAt = nextSendAt;
            nextSendAt += interval;
          }
          const { frame, idAt } = frames[nextId % frames.length]!;
          const copy = Buffer.from(frame);
          copy.writeUInt32BE(nextId, idAt);
          sentAt[nextId % sentAt.length] = interval > 0 ? dueAt : performance.now();
          ws.send(copy, { binary: true });
          nextId++;
          inFlight++;
        }
        if (stopped && inFlight === 0) ws.close();
      };

      ws.on('open', () => {});
      ws.on('message', (data: Buffer) => {
        const message = packr.unpack(data) as { op: string; id: number; code?: string };
        if (message.op === 'welcome') return pump();
        const now = performance.now();
        if (!measuring && now >= measureFrom) {
          measuring = true;
          cpu0 = process.cpuUsage();
          start = now;
          parentPort!.postMessage({ measuring: true });
        }
        if (message.op === 'ack') {
          if (measuring) {
            histogram.recordValue(Math.max(1, Math.round((now - sentAt[message.id % sentAt.length]!) * 1000)));
            ackedPubs++;
          }
        } else if (message.op === 'error') {
          errors[message.code ?? 'UNKNOWN'] = (errors[message.code ?? 'UNKNOWN'] ?? 0) + 1;
        }
        inFlight--;
        if (timer === null) pump();
      });
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });

  await Promise.all(Array.from({ length: options.connections }, (_, c) => drive(c)));
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  return {
    ackedPubs,
    ackedEvents: ackedPubs * options.batch,
    errors,
    histogram: hdr.encodeIntoCompressedBase64(histogram),
    elapsedMs,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
  };
}

run(workerData as LoadWorkerOptions).then(
  (result) => parentPort!.postMessage({ result }),
  (error) => {
    throw error;
  },
);
