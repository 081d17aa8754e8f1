// The baseline: what a competent Node developer writes first, in one thread. The `ws` package;
// each pub decoded and its events applied to cached records (the same default merge as the
// engine); the pubs that arrive while a commit runs form the next batch, whose changed keys are
// written once each in one LMDB transaction with the engine's LMDB settings and record encoding
// (queue-pipeline.ts, PeerRecords); the acks go once the batch is committed (async) or on disk
// (sync).
//
//   node dist/native-bench/naive-server.js <dataDir> <sync|async>   → prints {"port":N}
import { WebSocketServer, type WebSocket } from 'ws';
import { Batcher, wire, type BenchEvent } from './queue-pipeline.js';
import { announceAndServe } from './ws-peer.js';

const [dataDir, durability = 'sync'] = process.argv.slice(2);

interface Pub {
  socket: WebSocket;
  id: number;
  events: BenchEvent[];
}

const pubs = new Batcher<Pub>(
  dataDir!,
  durability,
  (pub, records, now) => records.apply(pub.events, now),
  (batch) => {
    for (const pub of batch) pub.socket.send(wire.pack({ op: 'ack', id: pub.id }));
  },
);

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 2 * 1024 * 1024 });
server.on('connection', (socket) => {
  socket.send(wire.pack({ op: 'welcome', v: 1 }));
  socket.on('message', (frame: Buffer) => {
    const message = wire.unpack(frame) as { id: number; events: BenchEvent[] };
    pubs.push({ socket, id: message.id, events: message.events });
  });
});
announceAndServe(server, () => pubs.records.close());
