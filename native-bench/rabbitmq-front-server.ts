// The stack this engine replaces, front half: a `ws` server that publishes each pub as one
// persistent message to a durable RabbitMQ queue (publisher confirms), and acks the client when the
// consumer (rabbitmq-consumer.ts) reports, on a reply queue, that it committed the pub's events.
//
//   node dist/native-bench/rabbitmq-front-server.js <amqpUrl> [classic|quorum]   → prints {"port":N,"msg":"listening on"}
import amqp from 'amqplib';
import { serveQueueFront } from './queue-pipeline.js';
import { PUBS_QUEUE, pubsQueueOptions, REPLIES_QUEUE, type PubsQueueType } from './rabbitmq-queues.js';

// Nagle off, as the Java and .NET clients have it by default: a 5 KB message leaves as two writes,
// and with Nagle the second waits for a delayed ACK (~40 ms) from the broker.
const connection = await amqp.connect(process.argv[2]!, { noDelay: true });
const channel = await connection.createConfirmChannel();
await channel.assertQueue(PUBS_QUEUE, pubsQueueOptions((process.argv[3] ?? 'classic') as PubsQueueType));
await channel.assertQueue(REPLIES_QUEUE, { durable: false });

const front = serveQueueFront(
  (payload) =>
    new Promise<void>((resolve, reject) =>
      channel.sendToQueue(PUBS_QUEUE, payload, { persistent: true }, (error) => (error === null || error === undefined ? resolve() : reject(new Error(String(error))))),
    ),
  () => connection.close(),
);
await channel.consume(REPLIES_QUEUE, (message) => message !== null && front.committed(message.content), { noAck: true });
