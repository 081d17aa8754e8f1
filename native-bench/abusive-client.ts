// An abusive client for tests and the benchmark: it sends pubs for a while without ever reading its
// socket (so neither acks nor OVERLOADED errors are consumed), keeping its own send buffer under
// 1 MiB. `pubsPerTick` (per millisecond) sets how hard it floods.
//
// Also a process of its own (`node abusive-client.js URL MS PUBS_PER_TICK`: prints "sending" once
// its socket is open, then the result as JSON), so a test's event loop does not carry the abuse.
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';

const packr = new Packr({ useRecords: false });
const SEND_BUFFER_BYTES = 1 << 20;

export interface AbuseResult {
  sent: number;
  /** Whether the engine closed the socket before the client stopped. */
  closedByEngine: boolean;
}

export function runAbusiveClient(url: string, durationMs: number, pubsPerTick: number, onOpen: () => void = () => {}): Promise<AbuseResult> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ['hunt.v1.msgpack']);
    const events = Array.from({ length: 100 }, (_, i) => ({ key: `abuse:${i % 31}`, type: 'spam', data: { pad: 'x'.repeat(40) } }));
    const deadline = performance.now() + durationMs;
    let sent = 0;
    ws.on('open', () => {
      onOpen();
      (ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const tick = () => {
        if (ws.readyState !== WebSocket.OPEN) return;
        if (performance.now() >= deadline) return ws.terminate();
        for (let i = 0; i < pubsPerTick && ws.bufferedAmount < SEND_BUFFER_BYTES; i++) ws.send(packr.pack({ op: 'pub', id: sent++, events }));
        setTimeout(tick, 1);
      };
      tick();
    });
    ws.on('error', () => {});
    ws.on('close', () => resolve({ sent, closedByEngine: performance.now() < deadline }));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [url, ms, perTick] = process.argv.slice(2);
  const result = await runAbusiveClient(url!, Number(ms), Number(perTick), () => console.log('sending'));
  console.log(JSON.stringify(result));
}
