// Ad-hoc engine measurement: node dist/native-bench/quick-engine.js [durability] [keys] [batch] [connections] [seconds]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEngineProcess } from './engine-process.js';
import { runLoad } from './load-generator.js';

const [durability = 'async', keys = '10000', batch = '100', connections = '8', seconds = '10', workers = '', window = '16'] = process.argv.slice(2);
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-bench-'));
const engine = await startEngineProcess({
  HUNT_DATA_DIR: dataDir,
  HUNT_DURABILITY: durability,
  HUNT_LOG_LEVEL: 'info',
  ...(workers ? { HUNT_WORKERS: workers } : {}),
});
const cpu0 = engine.cpuMicros();
const result = await runLoad({
  url: `ws://127.0.0.1:${engine.port}/v1/stream`,
  connections: Number(connections),
  batch: Number(batch),
  keys: Number(keys),
  skew: 0,
  window: Number(window),
  durationMs: Number(seconds) * 1000,
  targetEventsPerSecond: 0,
  threads: 1,
  keyPrefix: 'player:',
});
const cpu = engine.cpuMicros() - cpu0;
console.log(JSON.stringify({ durability, keys, batch, connections, ...result, engineCpuUsPerEvent: cpu / result.ackedEvents, peakRssMiB: engine.peakRssBytes() / 2 ** 20 }));
await engine.stop();
fs.rmSync(dataDir, { recursive: true, force: true });
