// The queues of the RabbitMQ pipeline peer (rabbitmq-front-server.ts → rabbitmq-consumer.ts).
export const PUBS_QUEUE = 'hunt-bench-pubs';
export const REPLIES_QUEUE = 'hunt-bench-committed';
