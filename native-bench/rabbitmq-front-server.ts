// The stack this engine replaces, front half: a `ws` server that publishes each pub as persistent
// messages to durable RabbitMQ queues, one per consumer, split by key (publisher confirms), and
// acks the client when the consumers (rabbitmq-consumer.ts) report, on a reply queue, that they
// committed the pub's events.
//
//   node dist/native-bench/rabbitmq-front-server.js <amqpUrl> <classic|quorum> <consumers>   → prints {"port":N,"msg":"listening on"}
import amqp from 'amqplib';
import { serveQueueFront } from './queue-pipeline.js';
import { pubsQueue, pubsQueueOptions, REPLIES_QUEUE, type PubsQueueType } from './rabbitmq-queues.js';

const [url, queueType, consumers] = [process.argv[2]!, process.argv[3] as PubsQueueType, Number(process.argv[4])];
// Nagle off, as the Java and .NET clients have it by default: a 5 KB message leaves as two writes,
// and with Nagle the second waits for a delayed ACK (~40 ms) from the broker.
const connection = await amqp.connect(url, { noDelay: true });
const channel = await connection.createConfirmChannel();
for (let consumer = 0; consumer < consumers; consumer++) await channel.assertQueue(pubsQueue(consumer), pubsQueueOptions(queueType));
await channel.assertQueue(REPLIES_QUEUE, { durable: false });

const front = serveQueueFront(
  consumers,
  (payload, consumer) =>
    new Promise<void>((resolve, reject) =>
      channel.sendToQueue(pubsQueue(consumer), payload, { persistent: true }, (error) => (error === null || error === undefined ? resolve() : reject(new Error(String(error))))),
    ),
  () => connection.close(),
);
await channel.consume(REPLIES_QUEUE, (message) => message !== null && front.committed(message.content), { noAck: true });
