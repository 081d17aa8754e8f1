// Test fixtures: a real engine (in this process or as a child process) on port 0 with a temp data
// directory, and a real WebSocket client.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Packr } from 'msgpackr';
import pino from 'pino';
import WebSocket from 'ws';
import { loadConfig } from '../src/shared/config.js';
import { Engine, type EngineHooks } from '../src/main/control/engine.js';
import { ENGINE_ENTRY } from '../native-bench/engine-process.js';

// Kill-and-restart tests start on a fixed port from the first start: uWS sets SO_REUSEADDR only on a
// fixed port, so a restart on a port first taken as 0 is refused while old connections sit in TIME_WAIT.
export { freePort, metricSum } from '../native-bench/engine-process.js';

export const wire = new Packr({ useRecords: false });

export function tempDir(t: { teardown(fn: () => void): void }, prefix = 'hunt-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const silentLog = pino({ level: 'silent' });

export async function startEngine(env: Record<string, string>, hooks: Partial<EngineHooks> = {}): Promise<Engine> {
  const { config } = loadConfig({ HUNT_PORT: '0', HUNT_LOG_LEVEL: 'silent', HUNT_WORKERS: '2', ...env });
  return Engine.start(config, silentLog, {
    onFatal(error) {
      throw error;
    },
    ...hooks,
  });
}

export type Message = Record<string, any>;

export class TestClient {
  readonly received: Message[] = [];
  private waiters: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const message = (isBinary ? wire.unpack(data) : JSON.parse(data.toString())) as Message;
      message.__binary = isBinary;
      const i = this.waiters.findIndex((w) => w.match(message));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(message);
      else this.received.push(message);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static connect(port: number, protocols: string[] = [], headers: Record<string, string> = {}): Promise<TestClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`, protocols, { headers, maxPayload: 256 * 1024 * 1024 });
    const client = new TestClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) => {
        // With this listener attached, ws leaves the refused request open: end it.
        req.destroy();
        reject(new Error(`upgrade refused: ${res.statusCode}`));
      });
    });
  }

  /** Resolves with the first message (received or future) that matches. */
  next(match: (m: Message) => boolean, timeoutMs = 20_000): Promise<Message> {
    const i = this.received.findIndex(match);
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (m: Message) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching message within ${timeoutMs} ms; received: ${JSON.stringify(this.received).slice(0, 500)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  welcome(): Promise<Message> {
    return this.next((m) => m.op === 'welcome');
  }

  send(message: unknown, encoding: 'json' | 'msgpack' = 'json'): void {
    if (encoding === 'json') this.ws.send(JSON.stringify(message));
    else this.ws.send(wire.pack(message), { binary: true });
  }

  /** The reply (ack, error or meta) to request `id`. */
  reply(id: number, timeoutMs?: number): Promise<Message> {
    return this.next((m) => m.id === id && m.op !== 'welcome', timeoutMs);
  }

  async request(message: Message & { id: number }, encoding: 'json' | 'msgpack' = 'json', timeoutMs?: number): Promise<Message> {
    const reply = this.reply(message.id, timeoutMs);
    this.send(message, encoding);
    return reply;
  }

  close(): Promise<unknown> {
    this.ws.close();
    return this.closed;
  }
}

/**
 * Percent-encodes a key for a URL path, dots too. WHATWG URL parsers (fetch, browsers) still
 * resolve "%2E%2E" as "..", so requests go through node:http, which sends the path as given.
 */
export function keyPath(key: string): string {
  return `/v1/keys/${encodeURIComponent(key).replaceAll('.', '%2E')}`;
}

export function httpRequest(method: string, port: number, urlPath: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    http
      .request({ method, host: '127.0.0.1', port, path: urlPath, headers, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: text === '' ? null : JSON.parse(text) }));
      })
      .on('error', reject)
      .end();
  });
}

export function httpGet(port: number, urlPath: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return httpRequest('GET', port, urlPath, headers);
}

/** GET /metrics: its status, content type and Prometheus text. */
export function scrapeMetrics(port: number, headers: Record<string, string> = {}): Promise<{ status: number; type: string; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', headers, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), text }));
      })
      .on('error', reject);
  });
}

export function getKey(port: number, key: string): Promise<{ status: number; body: any }> {
  return httpGet(port, keyPath(key));
}

/** Runs the engine process until it exits by itself (a start-up failure); its exit code and stdout. */
export function runEngineToExit(env: Record<string, string>): { status: number | null; stdout: string } {
  const result = spawnSync(process.execPath, [ENGINE_ENTRY], {
    env: { ...process.env, HUNT_PORT: '0', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stdout: result.stdout };
}

/** Several acceptors and workers, for the end-to-end tests that must hold with them. */
export const TWO_ACCEPTORS = { HUNT_ACCEPTORS: '2', HUNT_WORKERS: '3' };

/**
 * A connection the kernel gave to acceptor `acceptor` (welcomed). Connections that landed on the
 * other are kept open until then, so each new one is a fresh draw, and closed afterwards.
 */
export async function connectToAcceptor(engine: Engine, acceptor: number, protocols: string[] = [], headers: Record<string, string> = {}): Promise<TestClient> {
  const others: TestClient[] = [];
  try {
    for (let attempt = 0; attempt < 64; attempt++) {
      const connectionsOf = async () => (await engine.inspectAcceptors()).find((a) => a.acceptor === acceptor)!.connections;
      const before = await connectionsOf();
      const client = await TestClient.connect(engine.port, protocols, headers);
      await client.welcome();
      if ((await connectionsOf()) > before) return client;
      others.push(client);
    }
    throw new Error(`no connection landed on acceptor ${acceptor} in 64 attempts`);
  } finally {
    await Promise.all(others.map((client) => client.close()));
  }
}

/** Resolves once `condition` holds (checked every 20 ms); throws naming `what` after `timeoutMs`. */
export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
