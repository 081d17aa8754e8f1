// The queues of the RabbitMQ pipeline peer (rabbitmq-front-server.ts → rabbitmq-consumer.ts).
/** The pubs queue of consumer n (each consumer has its own, the front splits pubs by key). */
export const pubsQueue = (consumer: number) => `hunt-bench-pubs-${consumer}`;
export const REPLIES_QUEUE = 'hunt-bench-committed';

export type PubsQueueType = 'classic' | 'quorum';

/**
 * The pubs queue's declaration, which both halves make: durable, and either a classic queue or a
 * quorum queue (Raft-replicated, RabbitMQ's recommended durable type; on one node it still
 * fsyncs its log before confirming).
 */
export const pubsQueueOptions = (type: PubsQueueType) => ({ durable: true, arguments: { 'x-queue-type': type } });
