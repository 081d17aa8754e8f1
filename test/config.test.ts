// Configuration: every HUNT_* setting rejects bad values with the variable, the value and what is
// allowed; typos are warned about; the real engine process refuses to start on a bad value.
import os from 'node:os';
import t from 'tap';
import { ConfigError, DEFAULT_ACCEPTORS, DEFAULT_WORKERS, loadConfig, newLayout } from '../src/shared/config.js';
import { startEngineProcess } from '../native-bench/engine-process.js';
import { runEngineToExit, tempDir } from './helpers.js';

t.test('defaults', async (t) => {
  const { config, unknownVariables } = loadConfig({});
  t.match(config, {
    host: '127.0.0.1',
    port: 9001,
    workers: DEFAULT_WORKERS,
    acceptors: DEFAULT_ACCEPTORS,
    partitions: undefined,
    stores: undefined,
    durability: 'sync',
    routes: undefined,
    authTokens: [],
    logLevel: 'info',
  });
  t.ok(config.dataDir.endsWith('/data'));
  t.same(unknownVariables, []);
  const cores = os.availableParallelism();
  t.equal(DEFAULT_ACCEPTORS, Math.max(1, Math.round((cores * 2) / 5)), 'acceptors: two fifths of the cores, at least 1');
  t.equal(DEFAULT_WORKERS, Math.min(cores, Math.max(2, cores - DEFAULT_ACCEPTORS)), 'workers: the cores the acceptors leave, at least 2');
});

t.test('a new data directory: one store per worker, and partitions that every store shares evenly', async (t) => {
  const unset = { partitions: undefined, stores: undefined };
  t.same(newLayout(unset, 2), { stores: 2, partitions: 64 }, 'this VM');
  t.same(newLayout(unset, 12), { stores: 12, partitions: 72 }, '16 cores: 12 workers, 6 partitions each');
  t.same(newLayout(unset, 38), { stores: 38, partitions: 76 });
  t.same(newLayout(unset, 100), { stores: 100, partitions: 100 });
  t.same(newLayout({ partitions: 64, stores: undefined }, 38), { stores: 32, partitions: 64 }, 'set partitions: the fewest stores whose busiest holds no more than with one per worker');
  t.same(newLayout({ partitions: 64, stores: undefined }, 12), { stores: 11, partitions: 64 });
  t.same(newLayout({ partitions: 7, stores: undefined }, 4), { stores: 4, partitions: 7 });
  t.same(newLayout({ partitions: 3, stores: undefined }, 8), { stores: 3, partitions: 3 }, 'at most the partitions');
  t.same(newLayout({ partitions: undefined, stores: 48 }, 2), { stores: 48, partitions: 96 }, 'set stores: partitions a multiple of them');
  t.same(newLayout({ partitions: 256, stores: 16 }, 2), { stores: 16, partitions: 256 }, 'both set: as given');
});

const BAD_VALUES: [string, string, RegExp][] = [
  ['HUNT_PORT', '70000', /integer from 0 to 65535/],
  ['HUNT_PORT', 'eighty', /integer from 0 to 65535/],
  ['HUNT_HOST', '', /non-empty/],
  ['HUNT_DATA_DIR', '', /non-empty/],
  ['HUNT_WORKERS', '0', /integer from 1 to 256/],
  ['HUNT_WORKERS', '1.5', /integer from 1 to 256/],
  ['HUNT_PARTITIONS', '70000', /integer from 1 to 65535/],
  ['HUNT_DURABILITY', 'fsync', /one of sync, async/],
  ['HUNT_AUTH_TOKENS', 'short', /at least 16 characters/],
  ['HUNT_LOG_LEVEL', 'loud', /one of fatal, error, warn, info, debug, trace, silent/],
  ['HUNT_MAX_PAYLOAD_BYTES', '10', /integer from 1024/],
  ['HUNT_MAX_EVENTS_PER_PUB', '0', /integer from 1 to 100000/],
  ['HUNT_MAX_IN_FLIGHT', '-1', /integer from 1 to 65536/],
  ['HUNT_MAX_KEY_BYTES', '4000', /integer from 1 to 1900/],
  ['HUNT_MAX_TYPE_BYTES', '0', /integer from 1 to 1024/],
  ['HUNT_MAX_DATA_DEPTH', '100', /integer from 1 to 64/],
  ['HUNT_MAX_BACKLOG_BYTES', '5', /integer from 1048576/],
  ['HUNT_RING_BYTES', '3000000', /power of two from 1048576 to 1073741824/],
  ['HUNT_BATCH_MAX_EVENTS', '0', /integer from 1 to 1000000/],
  ['HUNT_CACHE_KEYS', 'many', /integer from 0 to 100000000/],
  ['HUNT_IDLE_TIMEOUT_S', '5', /0 \(off\) or an integer from 8 to 960/],
  ['HUNT_SHUTDOWN_TIMEOUT_MS', '1', /integer from 100 to 600000/],
  ['HUNT_MAX_PRODUCERS', '0', /integer from 1 to 1000000/],
  ['HUNT_PRODUCER_TTL_S', '5', /integer from 60 to 315360000/],
  ['HUNT_MAX_CONNECTIONS', '0', /integer from 1 to 1000000/],
];

t.test('each bad value names the variable, the value and what is allowed', async (t) => {
  for (const [name, value, allowed] of BAD_VALUES) {
    try {
      loadConfig({ [name]: value });
      t.fail(`${name}=${value} was accepted`);
    } catch (error) {
      t.type(error, ConfigError);
      const text = (error as ConfigError).message;
      t.match(text, `${name}=${JSON.stringify(value)} is invalid`, name);
      t.match(text, allowed, `${name}: allowed values`);
    }
  }
});

t.test('all problems are reported at once; unknown HUNT_ variables are returned for a warning', async (t) => {
  const error = t.throws(() => loadConfig({ HUNT_PORT: 'x', HUNT_WORKERS: 'y' })) as ConfigError;
  t.equal(error.problems.length, 2);
  t.same(loadConfig({ HUNT_WORKRES: '3', OTHER: '1' }).unknownVariables, ['HUNT_WORKRES']);
});

t.test('the engine process refuses a bad value with exit code 2 and a clear message', async (t) => {
  const result = runEngineToExit({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sometimes' });
  t.equal(result.status, 2);
  t.match(result.stdout, /HUNT_DURABILITY=\\"sometimes\\" is invalid: allowed is one of sync, async/);
});

t.test('the engine process reports a missing routes file and oversized payload vs ring together', async (t) => {
  const result = runEngineToExit({ HUNT_DATA_DIR: tempDir(t), HUNT_ROUTES: 'r.json', HUNT_RING_BYTES: '1048576', HUNT_MAX_PAYLOAD_BYTES: '1048576' });
  t.equal(result.status, 2);
  t.match(result.stdout, /HUNT_ROUTES=\\"r.json\\" is invalid: \(file\): cannot be read: ENOENT/);
  t.match(result.stdout, /HUNT_MAX_PAYLOAD_BYTES=1048576 is invalid with HUNT_RING_BYTES=1048576/);
});

t.test('the running engine logs its effective configuration once and warns about typos', async (t) => {
  const engine = await startEngineProcess({ HUNT_DATA_DIR: tempDir(t), HUNT_WORKRES: '3', HUNT_AUTH_TOKENS: 'secret-token-0123456789' });
  const code = await engine.stop();
  t.equal(code, 0);
  const lines = engine.output().trim().split('\n').map((line) => JSON.parse(line));
  const effective = lines.filter((l) => l.msg === 'effective configuration');
  t.equal(effective.length, 1);
  t.equal(effective[0].config.authTokens, '1 token(s)', 'tokens are redacted');
  t.notMatch(engine.output(), 'secret-token-0123456789');
  t.ok(lines.some((l) => l.level === 40 && l.variable === 'HUNT_WORKRES'), 'typo warned about');
});
