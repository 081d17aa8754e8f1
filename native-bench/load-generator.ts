// The load generator: C WebSocket connections spread over worker threads, pubs of B events over K
// keys, a bounded in-flight window per connection; merges the threads' ack-latency histograms.
import { Worker } from 'node:worker_threads';
import hdr from 'hdr-histogram-js';
import type { LoadWorkerOptions, LoadWorkerResult, Workload } from './load-worker.js';

export interface LoadOptions extends Workload {
  connections: number;
  /** Generator threads the connections are spread over. */
  threads: number;
  /** Target events/s over all connections; 0: unthrottled. */
  targetEventsPerSecond: number;
  /** Called once every generator thread measures (take the server's CPU reading then). */
  onMeasuring?: () => void;
}

export interface LoadResult {
  eventsPerSecond: number;
  ackedEvents: number;
  errors: Record<string, number>;
  latencyMs: { p50: number; p99: number; p999: number; max: number };
  /** The latency histogram (µs, HDR, compressed base64), to merge with other runs'. */
  histogram: string;
  /** The generator's own CPU time per acked event, µs (all its threads), and its kernel part. */
  generatorCpuUsPerEvent: number;
  generatorSystemUsPerEvent: number;
  elapsedMs: number;
}

const WORKER_FILE = new URL('./load-worker.js', import.meta.url);

/** One HDR histogram of the latencies (µs) of several encoded ones: percentiles of the whole, not medians of parts. */
export function mergeHistograms(encoded: string[]): hdr.Histogram {
  const merged = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  for (const histogram of encoded) merged.add(hdr.decodeFromCompressedBase64(histogram));
  return merged;
}

/** The bench's standard workload against `port`, unthrottled: C=8, B=100, K=10,000 uniform, window 64. */
export function standardLoad(port: number, seconds: number, warmupSeconds: number): LoadOptions {
  return {
    url: `ws://127.0.0.1:${port}/v1/stream`,
    connections: 8,
    batch: 100,
    keys: 10_000,
    skew: 0,
    window: 64,
    durationMs: seconds * 1000,
    warmupMs: warmupSeconds * 1000,
    targetEventsPerSecond: 0,
    threads: 1,
    keyPrefix: 'player:',
    shape: 'plain',
  };
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const threads = Math.max(1, Math.min(options.threads, options.connections));
  const pubsPerSecondPerConnection =
    options.targetEventsPerSecond > 0 ? options.targetEventsPerSecond / options.batch / options.connections : 0;
  // Uniform load: the connections split the keys between them and every key is in some frame, so
  // K = 1,000,000 really touches a million keys. Skewed load draws each frame's keys at random.
  const framesPerConnection = Math.max(8, Math.ceil(options.keys / (options.batch * options.connections)));
  let measuringThreads = 0;
  let firstConnection = 0;
  if (options.warmupMs === 0) queueMicrotask(() => options.onMeasuring?.());
  const results = await Promise.all(
    Array.from({ length: threads }, (_, t) => {
      const connections = Math.floor(options.connections / threads) + (t < options.connections % threads ? 1 : 0);
      firstConnection += connections;
      const workerOptions: LoadWorkerOptions = {
        url: options.url,
        connections,
        batch: options.batch,
        keys: options.keys,
        skew: options.skew,
        window: options.window,
        durationMs: options.durationMs,
        warmupMs: options.warmupMs,
        pubsPerSecond: pubsPerSecondPerConnection,
        seed: 1000 + t,
        framesPerConnection,
        firstConnection: firstConnection - connections,
        allConnections: options.connections,
        keyPrefix: options.keyPrefix,
        shape: options.shape,
      };
      return new Promise<LoadWorkerResult>((resolve, reject) => {
        const worker = new Worker(WORKER_FILE, { workerData: workerOptions });
        worker.on('message', (message: { measuring?: true; result?: LoadWorkerResult }) => {
          if (message.measuring && ++measuringThreads === threads) options.onMeasuring?.();
          if (message.result) resolve(message.result);
        });
        worker.once('error', reject);
      });
    }),
  );
  const merged = mergeHistograms(results.map((r) => r.histogram));
  const errors: Record<string, number> = {};
  let ackedEvents = 0;
  let elapsedMs = 0;
  for (const r of results) {
    ackedEvents += r.ackedEvents;
    elapsedMs = Math.max(elapsedMs, r.elapsedMs);
    for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
  }
  return {
    eventsPerSecond: ackedEvents / (elapsedMs / 1000),
    ackedEvents,
    errors,
    latencyMs: {
      p50: merged.getValueAtPercentile(50) / 1000,
      p99: merged.getValueAtPercentile(99) / 1000,
      p999: merged.getValueAtPercentile(99.9) / 1000,
      max: merged.maxValue / 1000,
    },
    histogram: hdr.encodeIntoCompressedBase64(merged),
    // cpuUsage() in a worker thread reports the whole process, so take the largest, not the sum.
    generatorCpuUsPerEvent: ackedEvents > 0 ? Math.max(...results.map((r) => r.cpuUserUs + r.cpuSystemUs)) / ackedEvents : 0,
    generatorSystemUsPerEvent: ackedEvents > 0 ? Math.max(...results.map((r) => r.cpuSystemUs)) / ackedEvents : 0,
    elapsedMs,
  };
}
