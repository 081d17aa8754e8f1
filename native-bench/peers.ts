// The servers the bench compares the engine with, other than the naive baseline: each started and
// stopped by the bench itself, on loopback only. A peer whose server is not installed is reported
// as skipped with the reason; `--install-peers` installs Debian's package first.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { cpuMicrosOf, startServerProcess, statusKiB, type EngineProcess } from './engine-process.js';

/** Why a peer cannot run here (null: it can). */
export function peerUnavailable(binary: string): string | null {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return null;
  } catch {
    return `${binary} is not installed (run the bench with --install-peers, or apt-get install it)`;
  }
}

/** apt-get installs Debian packages (needs root or sudo); throws with apt's output on failure. */
export function installPeers(packages: string[]): void {
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const run = (args: string[]) => execFileSync(sudo[0] ?? args[0]!, sudo.length > 0 ? args : args.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', ...packages]);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

/** Waits until `child` prints `ready` (or exits, or `timeoutMs` passes). */
function waitForLine(child: ChildProcess, ready: RegExp, what: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${output}`));
    });
  });
}

/**
 * redis-server with an append-only file (`appendfsync` everysec or always) in `dataDir`, and the
 * `ws` front end of redis-peer-server.ts in front of it: one EngineProcess whose CPU and memory are
 * both processes'.
 */
export async function startRedisPeer(dataDir: string, appendfsync: 'everysec' | 'always'): Promise<EngineProcess> {
  const port = await freePort();
  const redis = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dataDir, '--appendonly', 'yes', '--appendfsync', appendfsync, '--save', '', '--daemonize', 'no', '--protected-mode', 'yes'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const redisExited = new Promise<void>((resolve) => redis.once('exit', () => resolve()));
  try {
    await waitForLine(redis, /Ready to accept connections/, 'redis-server');
    const front = await startServerProcess([fileURLToPath(new URL('./redis-peer-server.js', import.meta.url)), String(port)], {});
    return {
      ...front,
      cpuMicros: () => front.cpuMicros() + cpuMicrosOf(redis.pid!),
      peakRssBytes: () => front.peakRssBytes() + statusKiB(redis.pid!, 'VmHWM') * 1024,
      rssBytes: () => front.rssBytes() + statusKiB(redis.pid!, 'VmRSS') * 1024,
      stop: async (signal = 'SIGTERM') => {
        const code = await front.stop(signal);
        redis.kill('SIGTERM');
        await redisExited;
        return code;
      },
    };
  } catch (error) {
    redis.kill('SIGKILL');
    throw error;
  }
}
