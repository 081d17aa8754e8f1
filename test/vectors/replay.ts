// Replays the shared test vectors (vectors.json, see generate.ts) against a live engine over real
// WebSockets, for the engine's own test and the TypeScript client's: each case on a connection of
// its own, every expected answer waited for, then the records read back over HTTP.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import WebSocket from 'ws';
import { getKey } from '../helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The project's root (this file runs from dist/test/vectors/). */
export const ROOT = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..');

export interface VectorStep {
  reconnect?: true;
  encoding?: 'msgpack' | 'json';
  frame?: string;
  message?: unknown;
  expect?: unknown[];
}

export interface VectorCase {
  name: string;
  engine: string;
  encoder: string;
  steps: VectorStep[];
  records: Record<string, unknown>;
}

export interface Vectors {
  engines: Record<string, Record<string, string>>;
  cases: VectorCase[];
}

export function loadVectors(): Vectors {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'test/vectors/vectors.json'), 'utf8')) as Vectors;
}

/** The engine's environment for an engine kind of the file, with paths made absolute. */
export function engineEnv(vectors: Vectors, engine: string): Record<string, string> {
  const env = { ...vectors.engines[engine]! };
  if (env.HUNT_ROUTES !== undefined) env.HUNT_ROUTES = path.join(ROOT, env.HUNT_ROUTES);
  return env;
}

/**
 * Whether `actual` matches `expected` as the file defines it: maps as subsets (every expected
 * field present and matching), arrays item by item, everything else equal.
 */
export function matches(expected: unknown, actual: unknown): boolean {
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((item, i) => matches(item, actual[i]));
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    return Object.entries(expected).every(([name, item]) => Object.hasOwn(actual, name) && matches(item, (actual as Record<string, unknown>)[name]));
  }
  return expected === actual;
}

export interface ReplayOptions {
  port: number;
  /** The frame to send for a step (data, and whether it is binary); null skips the whole case. */
  frameOf(step: VectorStep): { data: string | Uint8Array; binary: boolean } | null;
  /** Decodes a server frame. */
  decode(data: Buffer, binary: boolean): unknown;
}

/** Plays one case; every difference is a tap failure naming the case and the step. */
export async function replayCase(t: Test, vector: VectorCase, options: ReplayOptions): Promise<void> {
  const frames = vector.steps.map((step) => (step.reconnect ? null : options.frameOf(step)));
  if (frames.some((frame, i) => frame === null && !vector.steps[i]!.reconnect)) return;
  let socket = await Socket.open(options.port, options.decode);
  try {
    for (const [i, step] of vector.steps.entries()) {
      if (step.reconnect) {
        socket.close();
        socket = await Socket.open(options.port, options.decode);
        continue;
      }
      const frame = frames[i]!;
      socket.ws.send(frame.data, { binary: frame.binary });
      const problem = await socket.expect(step.expect ?? []);
      if (problem !== null) {
        t.fail(`${vector.name}, step ${i}: ${problem}`);
        return;
      }
    }
    for (const [key, record] of Object.entries(vector.records)) {
      const { status, body } = await getKey(options.port, key);
      if (record === null) t.equal(status, 404, `${vector.name}: ${key} has no record`);
      else t.ok(status === 200 && matches(record, body), `${vector.name}: ${key}'s record`, { expected: record, actual: body });
    }
    t.pass(vector.name);
  } finally {
    socket.close();
  }
}

/** One connection, its messages queued until a step takes them. */
class Socket {
  private readonly received: unknown[] = [];
  private wake: (() => void) | null = null;
  private closedWith: string | null = null;

  private constructor(readonly ws: WebSocket, decode: (data: Buffer, binary: boolean) => unknown) {
    ws.on('message', (data: Buffer, binary: boolean) => {
      const message = decode(data, binary) as Record<string, unknown>;
      if (message.op !== 'welcome') this.received.push(message);
      this.wake?.();
    });
    ws.on('close', (code) => {
      this.closedWith = `the connection closed (${code})`;
      this.wake?.();
    });
  }

  static open(port: number, decode: (data: Buffer, binary: boolean) => unknown): Promise<Socket> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`);
    const socket = new Socket(ws, decode);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(socket));
      ws.once('error', reject);
    });
  }

  /** Waits for a message matching each expected one; the problem, or null when all came. */
  async expect(expected: unknown[], timeoutMs = 15_000): Promise<string | null> {
    const wanted = [...expected];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.received.length > 0) {
        const message = this.received.shift();
        const at = wanted.findIndex((item) => matches(item, message));
        if (at >= 0) wanted.splice(at, 1);
        else return `unexpected ${JSON.stringify(message)} while waiting for ${JSON.stringify(wanted)}`;
      }
      if (wanted.length === 0) return null;
      if (this.closedWith !== null) return `${this.closedWith} while waiting for ${JSON.stringify(wanted)}`;
      const left = deadline - Date.now();
      if (left <= 0) return `no answer within ${timeoutMs} ms; waiting for ${JSON.stringify(wanted)}`;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  close(): void {
    this.ws.close();
  }
}
