// Subscriber connections for the benchmark: `count` sockets, each subscribed to one key of the
// workload (player:0, player:1, …), reading and counting the updates they get.
import WebSocket from 'ws';

export interface Subscribers {
  updates(): number;
  close(): Promise<void>;
}

export async function openSubscribers(url: string, count: number, keyPrefix: string): Promise<Subscribers> {
  let updates = 0;
  const sockets = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.on('message', (data: Buffer) => {
          const text = data.toString();
          if (text.startsWith('{"op":"welcome"')) ws.send(JSON.stringify({ op: 'sub', id: 1, keys: [`${keyPrefix}${i}`] }));
          else if (text.startsWith('{"op":"ack"')) resolve(ws);
          else if (text.startsWith('{"op":"update"')) updates++;
        });
        ws.once('error', reject);
      }),
    ),
  );
  return {
    updates: () => updates,
    close: async () => {
      await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : (ws.once('close', () => resolve()), ws.close())))));
    },
  };
}

export interface DeliveryLatency {
  p50: number;
  p99: number;
  samples: number;
}

/**
 * Measures update delivery latency next to the load: a probe connection publishes one event every
 * `intervalMs` to one of `PROBE_KEYS` keys, its data holding the send time, and a subscriber
 * connection subscribed to those keys takes the difference on each `update` (same process, same
 * clock). Includes the commit (and, with sync durability, the fsync) like any update does.
 */
export async function startDeliveryProbe(url: string, intervalMs = 5): Promise<{ reset(): void; stop(): Promise<DeliveryLatency> }> {
  const PROBE_KEYS = 10;
  const keys = Array.from({ length: PROBE_KEYS }, (_, i) => `probe:${i}`);
  const latencies: number[] = [];
  const now = () => performance.timeOrigin + performance.now();
  const open = (onMessage: (ws: WebSocket, text: string) => void) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.on('message', (data: Buffer) => {
        const text = data.toString();
        if (text.startsWith('{"op":"welcome"')) resolve(ws);
        else onMessage(ws, text);
      });
      ws.once('error', reject);
    });
  const subscriber = await open((_, text) => {
    if (!text.startsWith('{"op":"update"')) return;
    const sentAt = (JSON.parse(text) as { meta: { fields: { sentAt?: number } } }).meta.fields.sentAt;
    if (sentAt !== undefined) latencies.push(now() - sentAt);
  });
  await new Promise<void>((resolve) => {
    subscriber.once('message', () => resolve());
    subscriber.send(JSON.stringify({ op: 'sub', id: 1, keys }));
  });
  const publisher = await open(() => {});
  let id = 0;
  const timer = setInterval(() => {
    id++;
    publisher.send(JSON.stringify({ op: 'pub', id, events: [{ key: keys[id % PROBE_KEYS], type: 'probe', data: { sentAt: now() } }] }));
  }, intervalMs);
  return {
    /** Forgets the samples so far (taken during the warm-up). */
    reset() {
      latencies.length = 0;
    },
    async stop() {
      clearInterval(timer);
      await new Promise((r) => setTimeout(r, 200));
      for (const ws of [publisher, subscriber]) ws.close();
      latencies.sort((a, b) => a - b);
      const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
      return { p50: at(0.5), p99: at(0.99), samples: latencies.length };
    },
  };
}
