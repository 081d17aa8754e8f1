// The `hunt` CLI as a user runs it (a child process) against a live engine: pub from stdin with a
// summary and per-line errors, a producer name that survives re-runs, get, tail, partition, and
// one-line errors with non-zero exit codes.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { partitionOf } from '../src/shared/partition.js';
import { startEngine, tempDir, until } from './helpers.js';

const HUNT = fileURLToPath(new URL('../src/cli/hunt.js', import.meta.url));
const SIMULATE_HUNT = fileURLToPath(new URL('../examples/simulate-hunt.js', import.meta.url));
const EXAMPLE_ROUTES = fileURLToPath(new URL('../../examples/treasure-hunt.routes.json', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `hunt ...args` (never spawnSync: the engine under test shares this event loop). */
function hunt(args: string[], stdin = '', script = HUNT, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

t.test('pub, get, tail and partition against a live engine', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', HUNT_PARTITIONS: '8', HUNT_STORES: '4' });
  t.teardown(() => engine.stop());
  const url = ['--url', `ws://127.0.0.1:${engine.port}/v1/stream`];
  const lines = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ key: `k${i % 10}`, type: 'step', data: { i } }));
  // Line 1002 the client refuses; line 1003 only the engine (key over maxKeyBytes), in a pub with others.
  const bad = [JSON.stringify({ key: '', type: 'step' }), JSON.stringify({ key: 'x'.repeat(600), type: 'step' })];
  const input = [...lines.slice(0, 1000), '{not json', ...bad, '', ...lines.slice(1000)].join('\n');

  const tail = spawn(process.execPath, [HUNT, 'tail', 'k', '--prefix', ...url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let tailed = '';
  tail.stdout.on('data', (chunk: Buffer) => (tailed += chunk));
  await until('tail to subscribe', async () => (await engine.inspect()).subscribers === 1);

  const first = await hunt(['pub', '--producer', 'cli-test', ...url], input);
  t.equal(first.code, 1, 'a failed line makes the exit code 1');
  t.match(first.stderr, /line 1001: NOT_JSON:/);
  t.match(first.stderr, /line 1002: BAD_EVENT: .*key must be a non-empty string/);
  t.match(first.stderr, /line 1003: BAD_EVENT: .*more than maxKeyBytes/);
  t.match(first.stderr, /2003 events read: 2000 acknowledged, failed: 1 NOT_JSON, 2 BAD_EVENT/);
  const get = await hunt(['get', 'k3', ...url]);
  t.equal(get.code, 0, get.stderr);
  t.match(JSON.parse(get.stdout), { count: 200, fields: { i: 1993 } });

  // The same producer name again: its pubs are numbered above the last run's, so nothing is lost.
  const again = await hunt(['pub', '--producer', 'cli-test', ...url], lines.slice(0, 10).join('\n'));
  t.equal(again.code, 0, again.stderr);
  t.match(again.stderr, /10 events read: 10 acknowledged, none failed/);
  t.match(JSON.parse((await hunt(['get', 'k3', ...url])).stdout), { count: 201 });

  await until('tail to print the last change of k3', () => tailed.includes('"key":"k3","version":201'));
  tail.kill('SIGINT');
  await new Promise((r) => tail.once('close', r));
  const updates = tailed.trim().split('\n').map((line) => JSON.parse(line) as { key: string; version: number });
  t.ok(updates.length > 0 && updates.every((u) => u.key.startsWith('k')), `tail printed ${updates.length} updates`);
  t.equal(Math.max(...updates.filter((u) => u.key === 'k3').map((u) => u.version)), 201, 'up to the last change');

  const partition = await hunt(['partition', 'player:ann', ...url]);
  const p = partitionOf('player:ann', 8);
  t.same(JSON.parse(partition.stdout), { key: 'player:ann', partition: p, partitions: 8, store: p % 4, worker: (p % 4) % 2 }, 'from the engine');
  const offline = await hunt(['partition', 'player:ann', '--partitions', '8', '--stores', '3', '--workers', '2']);
  t.same(JSON.parse(offline.stdout), { key: 'player:ann', partition: p, partitions: 8, store: p % 3, worker: (p % 3) % 2 }, 'offline, from the counts');
});

t.test('without --url the engine is found as it was started: HUNT_URL, or HUNT_HOST and HUNT_PORT', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', HUNT_HOST: '0.0.0.0' });
  t.teardown(() => engine.stop());
  const port = String(engine.port);
  t.equal((await hunt(['pub'], '{"key":"addr","type":"t"}\n', HUNT, { HUNT_PORT: port })).code, 0, 'pub with HUNT_PORT');
  const byPort = await hunt(['get', 'addr'], '', HUNT, { HUNT_HOST: '0.0.0.0', HUNT_PORT: port });
  t.equal(byPort.code, 0, byPort.stderr);
  t.match(JSON.parse(byPort.stdout), { count: 1 }, 'a wildcard HUNT_HOST is dialled on loopback');
  const byUrl = await hunt(['get', 'addr'], '', HUNT, { HUNT_URL: `ws://127.0.0.1:${port}/v1/stream`, HUNT_PORT: '1' });
  t.equal(byUrl.code, 0, `HUNT_URL wins over HUNT_PORT: ${byUrl.stderr}`);
  const flag = await hunt(['get', 'addr', '--url', `ws://127.0.0.1:${port}/v1/stream`], '', HUNT, { HUNT_URL: 'ws://127.0.0.1:1/v1/stream' });
  t.equal(flag.code, 0, `--url wins over HUNT_URL: ${flag.stderr}`);
  const badPort = await hunt(['get', 'addr'], '', HUNT, { HUNT_PORT: 'nine' });
  t.equal(badPort.code, 2);
  t.match(badPort.stderr, /^hunt: HUNT_PORT="nine": must be an integer from 1 to 65535/);
  const badUrl = await hunt(['get', 'addr'], '', HUNT, { HUNT_URL: 'http://x' });
  t.equal(badUrl.code, 2);
  t.match(badUrl.stderr, /^hunt: HUNT_URL="http:\/\/x": must be a ws:\/\/ or wss:\/\/ URL/);
});

t.test('errors are one line and a non-zero exit code', async (t) => {
  const missing = await hunt(['get', 'k', '--url', 'ws://127.0.0.1:1/v1/stream']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /^hunt: DISCONNECTED: cannot connect to ws:\/\/127\.0\.0\.1:1\/v1\/stream: connect ECONNREFUSED/);
  t.equal(missing.stderr.trim().split('\n').length, 1);
  const unknown = await hunt(['frobnicate']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown command "frobnicate"; commands: serve, check-config, data, get, tail, pub, partition, bench/);
  const usage = await hunt(['get']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /usage: hunt get KEY/);
  const badFlag = await hunt(['partition', 'k', '--partitions', 'x', '--stores', '1', '--workers', '1']);
  t.equal(badFlag.code, 2);
  t.match(badFlag.stderr, /--partitions must be a positive integer, got "x"/);
  const help = await hunt(['pub', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /usage: hunt pub/);
});

t.test('the example simulation streams a hunt through the client and prints what the routes kept', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', HUNT_ROUTES: EXAMPLE_ROUTES });
  t.teardown(() => engine.stop());
  const run = await hunt([`ws://127.0.0.1:${engine.port}`, '6'], '', SIMULATE_HUNT);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /^hunt h\w+: \d+ events in 22 pubs/);
  t.match(run.stdout, /hunt:h\w+ \{"players":6,/, 'the hunt record counts its players');
  t.match(run.stdout, /zone:h\w+:north \{"finds":\d+,"points":\d+\}/);
});
