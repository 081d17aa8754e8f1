// Runs the engine as its own process (as `npm start` does) for benchmarks and tests, and reads its
// CPU time and peak memory from /proc, the engine's own process accounting.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export const ENGINE_ENTRY = fileURLToPath(new URL('../src/main/index.js', import.meta.url));
const CLOCK_TICKS_PER_SECOND = 100;

export interface EngineProcess {
  child: ChildProcess;
  port: number;
  pid: number;
  output(): string;
  /** CPU time (user + system) of all the engine's threads so far, in µs. */
  cpuMicros(): number;
  /** Peak resident memory so far, in bytes. */
  peakRssBytes(): number;
  /** Resident memory now, in bytes. */
  rssBytes(): number;
  /** SIGTERM, then wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * A port nothing listens on, for a server that must be restarted on the same port (a kill-and-restart
 * test, a broker the bench starts). It is drawn from below the kernel's ephemeral range
 * (/proc/sys/net/ipv4/ip_local_port_range, 32768–60999 by default), so no other process's port-0
 * listen or outbound connection can take it between the probe and the (re)start.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  throw new Error('no free port found in 20000-31999 after 100 tries');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

export function startEngineProcess(env: Record<string, string>, timeoutMs = 15_000): Promise<EngineProcess> {
  return startServerProcess([ENGINE_ENTRY], env, timeoutMs);
}

/**
 * Starts `node ...args` and resolves once it logs a line with "port" and a "listening on" message
 * (the engine's pino line; the benchmark's baseline servers print the same shape).
 */
export async function startServerProcess(args: string[], env: Record<string, string>, timeoutMs = 15_000): Promise<EngineProcess> {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, HUNT_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const { match, output } = await waitForOutput(child, /"port":(\d+)[^\n]*"msg":"listening on/, 'the server', timeoutMs);
  const pid = child.pid!;
  return {
    child,
    pid,
    port: Number(match[1]),
    output,
    cpuMicros: () => cpuMicrosOf(pid),
    peakRssBytes: () => statusKiB(pid, 'VmHWM') * 1024,
    rssBytes: () => statusKiB(pid, 'VmRSS') * 1024,
    stop: (signal = 'SIGTERM') => {
      child.kill(signal);
      return exited;
    },
  };
}

/**
 * Resolves once a child's stdout or stderr so far matches `pattern` (rejects if it exits first or
 * `timeoutMs` passes); its output keeps being collected for `output()`.
 */
export function waitForOutput(child: ChildProcess, pattern: RegExp, what: string, timeoutMs = 15_000): Promise<{ match: RegExpExecArray; output: () => string }> {
  let output = '';
  return new Promise((resolve, reject) => {
    let started = false;
    const timer = setTimeout(() => reject(new Error(`${what} did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (started) return;
      const match = pattern.exec(output);
      if (match === null) return;
      started = true;
      clearTimeout(timer);
      resolve({ match, output: () => output });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!started) reject(new Error(`${what} exited with ${code} before it started:\n${output}`));
    });
  });
}

/**
 * CPU time (user + system) of all of a process's threads so far, and of the child processes it
 * has reaped (Redis forks to rewrite its AOF), in µs.
 */
export function cpuMicrosOf(pid: number): number {
  const fields = statFields(`/proc/${pid}/stat`);
  return ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 1e6) / CLOCK_TICKS_PER_SECOND;
}

/** CPU time (µs) spent in user space and in the kernel. */
export interface CpuTimes {
  user: number;
  system: number;
}

/** CPU time of each thread of a process so far, by thread id (the main thread's is the pid). */
export function threadCpuOf(pid: number): Map<number, CpuTimes> {
  const threads = new Map<number, CpuTimes>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(Number(tid), cpuTimesIn(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return threads;
}

/** The OS thread ids of the engine's acceptors and partition workers, by index. */
export interface EngineThreads {
  acceptors: number[];
  workers: number[];
}

/**
 * Reads the thread ids from the engine's start-up lines (each acceptor and worker logs its `tid`),
 * waiting until as many as its "listening on" line counts have logged.
 */
export async function engineThreadsOf(engine: EngineProcess, timeoutMs = 10_000): Promise<EngineThreads> {
  const counts = /"workers":(\d+),"acceptors":(\d+)[^\n]*"msg":"listening on/.exec(engine.output());
  if (counts === null) throw new Error('the engine has not logged its thread counts');
  const [workers, acceptors] = [Number(counts[1]), Number(counts[2])];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const threads: EngineThreads = { acceptors: [], workers: [] };
    for (const [, role, index, tid] of engine.output().matchAll(/"(acceptor|worker)":(\d+),"tid":(\d+),[^\n]*"msg":"(?:acceptor thread|partition worker) started"/g)) {
      threads[role === 'acceptor' ? 'acceptors' : 'workers'][Number(index)] = Number(tid);
    }
    const complete = (tids: number[], n: number) => tids.filter((tid) => tid !== undefined).length === n;
    if (complete(threads.acceptors, acceptors) && complete(threads.workers, workers)) return threads;
    if (Date.now() > deadline) throw new Error(`the engine did not log ${acceptors} acceptor and ${workers} worker thread ids in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** CPU the engine spent between two threadCpuOf readings, by role; per-thread figures in index order. */
export interface ThreadCpuSplit {
  /** The main thread: control, off the per-event path. */
  control: CpuTimes;
  acceptors: CpuTimes[];
  workers: CpuTimes[];
  /** Everything else: V8's GC and compiler helpers, libuv's pool, LMDB's. */
  other: CpuTimes;
}

export function splitThreadCpu(pid: number, threads: EngineThreads, before: Map<number, CpuTimes>, after: Map<number, CpuTimes>): ThreadCpuSplit {
  const spent = (tid: number): CpuTimes => {
    const a = after.get(tid) ?? { user: 0, system: 0 };
    const b = before.get(tid) ?? { user: 0, system: 0 };
    return { user: a.user - b.user, system: a.system - b.system };
  };
  const named = new Set([pid, ...threads.acceptors, ...threads.workers]);
  const other = { user: 0, system: 0 };
  for (const tid of after.keys()) {
    if (named.has(tid)) continue;
    const t = spent(tid);
    other.user += t.user;
    other.system += t.system;
  }
  return { control: spent(pid), acceptors: threads.acceptors.map(spent), workers: threads.workers.map(spent), other };
}

/** user + system. */
export const cpuTotal = (times: CpuTimes | CpuTimes[]): number => (Array.isArray(times) ? times : [times]).reduce((sum, t) => sum + t.user + t.system, 0);

/** utime + stime of a /proc stat file, in µs. */
/** The fields of a /proc stat file after the command name: [0] is field 3 (state), [11] utime… */
function statFields(statFile: string): string[] {
  return fs.readFileSync(statFile, 'utf8').split(') ')[1]!.split(' ');
}

function cpuTimesIn(statFile: string): CpuTimes {
  const fields = statFields(statFile);
  return { user: (Number(fields[11]) * 1e6) / CLOCK_TICKS_PER_SECOND, system: (Number(fields[12]) * 1e6) / CLOCK_TICKS_PER_SECOND };
}

/** A `kB` field of /proc/<pid>/status (0 when absent). */
export function statusKiB(pid: number, field: string): number {
  const line = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return line === null ? 0 : Number(line[1]);
}

/** A metric's samples summed over their label sets, from the engine's Prometheus text. */
export function metricSum(text: string, name: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}
