// The baseline users would write first: one thread, the `ws` package, lmdb-js in the main thread,
// one db.transaction per pub with a read-modify-write per event (the same default merge), the ack
// sent when the transaction is committed (async) or flushed to disk (sync). lmdb-js merges the
// transactions of many pubs into one commit, so this baseline already batches its fsyncs.
//
//   node dist/native-bench/naive-server.js <dataDir> <sync|async>   → prints {"port":N}
import { open } from 'lmdb';
import { WebSocketServer } from 'ws';
import type { MetaRecord } from '../src/shared/metadata.js';
import { mergeEvents, wire, type BenchEvent } from './queue-pipeline.js';
import { announceAndServe } from './ws-peer.js';

const [dataDir, durability = 'sync'] = process.argv.slice(2);
const db = open<MetaRecord, string>({ path: dataDir!, noSync: durability === 'async' });

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 2 * 1024 * 1024 });
server.on('connection', (socket) => {
  socket.send(wire.pack({ op: 'welcome', v: 1 }));
  socket.on('message', (frame: Buffer) => {
    const message = wire.unpack(frame) as { op: string; id: number; events: BenchEvent[] };
    const now = Date.now();
    const committed = db.transaction(() => mergeEvents(db, message.events, now));
    const durable = durability === 'sync' ? committed.then(() => db.flushed) : committed;
    durable.then(() => socket.send(wire.pack({ op: 'ack', id: message.id })));
  });
});
announceAndServe(server, () => db.close());
