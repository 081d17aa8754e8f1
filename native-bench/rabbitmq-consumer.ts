// The stack this engine replaces, back half: consumer n of the pipeline, on its own durable pubs
// queue (prefetch 1,000), applies batches of pubs to its own LMDB (queue-pipeline.ts), then acks
// them to RabbitMQ and reports their refs on the reply queue, after the commit (and, with sync,
// the fsync).
//
//   node dist/native-bench/rabbitmq-consumer.js <amqpUrl> <dataDir> <sync|async> <classic|quorum> <n>   → prints {"msg":"consuming"}
import amqp, { type ConsumeMessage } from 'amqplib';
import { batchApplier } from './queue-pipeline.js';
import { pubsQueue, pubsQueueOptions, REPLIES_QUEUE, type PubsQueueType } from './rabbitmq-queues.js';

const [url, dataDir, durability, queueType, consumer] = process.argv.slice(2);
const queue = pubsQueue(Number(consumer));
// Nagle off (see rabbitmq-front-server.ts): the replies and acks must not wait for delayed ACKs.
const connection = await amqp.connect(url!, { noDelay: true });
const channel = await connection.createChannel();
await channel.assertQueue(queue, pubsQueueOptions(queueType as PubsQueueType));
await channel.assertQueue(REPLIES_QUEUE, { durable: false });
await channel.prefetch(1000);

const applier = batchApplier<ConsumeMessage>(dataDir!, durability!, (message) => message.content, (last, report) => {
  channel.ack(last, true);
  channel.sendToQueue(REPLIES_QUEUE, report);
});
await channel.consume(queue, (message) => message !== null && applier.push(message));
console.log(JSON.stringify({ msg: 'consuming' }));
process.on('SIGTERM', () => {
  void connection.close().then(() => applier.records.close()).then(() => process.exit(0));
});
