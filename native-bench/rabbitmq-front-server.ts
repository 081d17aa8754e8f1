// The stack this engine replaces, front half: a `ws` server that publishes each pub as one
// persistent message to a durable RabbitMQ queue (publisher confirms), and acks the client when the
// consumer (rabbitmq-consumer.ts) reports, on a reply queue, that it committed the pub's events.
//
//   node dist/native-bench/rabbitmq-front-server.js <amqpUrl>   → prints {"port":N,"msg":"listening on"}
import amqp from 'amqplib';
import { Packr } from 'msgpackr';
import { announceAndServe } from './ws-peer.js';
import { WebSocketServer, type WebSocket } from 'ws';
import { PUBS_QUEUE, REPLIES_QUEUE } from './rabbitmq-queues.js';

const wire = new Packr({ useRecords: false });
const connection = await amqp.connect(process.argv[2]!);
const channel = await connection.createConfirmChannel();
await channel.assertQueue(PUBS_QUEUE, { durable: true });
await channel.assertQueue(REPLIES_QUEUE, { durable: false });

/** Pubs sent to the queue and not yet committed by the consumer: reference → where to ack. */
const waiting = new Map<number, { socket: WebSocket; id: number }>();
let nextRef = 1;

await channel.consume(
  REPLIES_QUEUE,
  (message) => {
    if (message === null) return;
    for (const ref of wire.unpack(message.content) as number[]) {
      const pub = waiting.get(ref);
      waiting.delete(ref);
      pub?.socket.send(wire.pack({ op: 'ack', id: pub.id }));
    }
  },
  { noAck: true },
);

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 2 * 1024 * 1024 });
server.on('connection', (socket) => {
  socket.send(wire.pack({ op: 'welcome', v: 1 }));
  socket.on('message', (frame: Buffer) => {
    const message = wire.unpack(frame) as { id: number; events: unknown[] };
    const ref = nextRef++;
    waiting.set(ref, { socket, id: message.id });
    channel.sendToQueue(PUBS_QUEUE, wire.pack({ ref, events: message.events }), { persistent: true }, (error) => {
      if (error === null || error === undefined) return;
      waiting.delete(ref);
      socket.send(wire.pack({ op: 'error', id: message.id, code: 'STORAGE', message: String(error) }));
    });
  });
});
announceAndServe(server, () => connection.close());
