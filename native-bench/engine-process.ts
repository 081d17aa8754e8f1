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

/** CPU time (user + system) of all of a process's threads so far, in µs. */
export function cpuMicrosOf(pid: number): number {
  return cpuMicrosIn(`/proc/${pid}/stat`);
}

/** CPU time of each thread of a process so far, in µs, by thread id (the main thread's is the pid). */
export function threadCpuMicrosOf(pid: number): Map<number, number> {
  const threads = new Map<number, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(Number(tid), cpuMicrosIn(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return threads;
}

/**
 * CPU µs the engine spent between two threadCpuMicrosOf readings: its main thread (the front end),
 * its `workers` busiest other threads (the partition workers), and everything else.
 */
export function splitThreadCpu(pid: number, before: Map<number, number>, after: Map<number, number>, workers: number): { main: number; workers: number; other: number } {
  const spent = [...after].map(([tid, micros]) => ({ tid, micros: micros - (before.get(tid) ?? 0) }));
  const others = spent.filter((t) => t.tid !== pid).sort((a, b) => b.micros - a.micros);
  const sum = (threads: { micros: number }[]) => threads.reduce((total, t) => total + t.micros, 0);
  return { main: spent.find((t) => t.tid === pid)?.micros ?? 0, workers: sum(others.slice(0, workers)), other: sum(others.slice(workers)) };
}

/** utime + stime of a /proc stat file, in µs. */
function cpuMicrosIn(statFile: string): number {
  const fields = fs.readFileSync(statFile, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_SECOND;
}

/** A `kB` field of /proc/<pid>/status (0 when absent). */
export function statusKiB(pid: number, field: string): number {
  const line = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return line === null ? 0 : Number(line[1]);
}
