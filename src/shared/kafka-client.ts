// Cluster mode's Kafka clients (kafkajs), made alike on the control thread (start-up checks) and in
// the partition workers (producer and consumer), with kafkajs's own log lines going to ours.
import { Kafka, logLevel, type LogEntry, type Message, type RecordMetadata } from 'kafkajs';
import type { KafkaConfig } from './config.js';
import type { Logger } from './logger.js';

const CONCURRENT_TRANSACTIONS = /another concurrent operation on the same transaction/;

/** Long enough for a broker on a loaded host, short enough that a dead one is noticed. */
const CONNECTION_TIMEOUT_MS = 5000;

export function createKafka(config: KafkaConfig, clientId: string, log: Logger, retries = 8): Kafka {
  return new Kafka({
    clientId,
    brokers: config.brokers,
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    retry: { retries },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...fields } = entry;
        // A transaction begun while the broker still completes the last one: kafkajs retries it (Kafka's own client does so silently).
        if (CONCURRENT_TRANSACTIONS.test(message) || CONCURRENT_TRANSACTIONS.test(String(fields.error ?? ''))) log.debug({ kafka: fields }, `kafka: ${message}`);
        else if (level <= logLevel.ERROR) log.error({ kafka: fields }, `kafka: ${message}`);
        else log.warn({ kafka: fields }, `kafka: ${message}`);
      },
  });
}

/** Whether an error comes from kafkajs (its errors' names start with KafkaJS), itself or as the cause. */
export function isKafkaError(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) if (e.name.startsWith('KafkaJS')) return true;
  return false;
}

/** Whether this thread's handler of kafkajs's stray rejections is installed (a thread may run several tasks). */
let strayRejectionsHandled = false;

/**
 * kafkajs can reject a promise it hands to no caller: a request that timed out while a broker
 * restarted (tulios/kafkajs#1686). Node ends the thread (the process, on the control thread) for an
 * unhandled rejection. The calls the engine awaits fail on their own, so such a rejection is logged
 * and the thread goes on; any other still ends it. Called by each thread that uses kafkajs.
 */
export function handleStrayKafkaRejections(log: Logger): void {
  if (strayRejectionsHandled) return;
  strayRejectionsHandled = true;
  process.on('unhandledRejection', (reason) => {
    if (!isKafkaError(reason)) throw reason;
    log.warn({ err: reason }, 'kafkajs rejected a promise no call awaits (a request to a broker that went away); ignored');
  });
}

/** Gives up after this many sends that leave partitions unanswered in a row. */
const UNANSWERED_ROUNDS = 20;

/**
 * Sends `messages` (each naming its partition) and resolves once every partition has answered.
 * kafkajs 2.2.4 retries a send per broker and skips the brokers that answered: a partition whose
 * leader moved to one of those (a broker died mid-send) is never sent, yet the send resolves. The
 * partitions missing from the answer are sent again (never written, or written and then recognised
 * by the broker as a duplicate of the idempotent producer's sequence).
 */
export async function sendToEveryPartition(send: (messages: Message[]) => Promise<RecordMetadata[]>, messages: Message[], log: Logger): Promise<void> {
  let pending = messages;
  for (let round = 1; pending.length > 0; round++) {
    const answered = new Set((await send(pending)).map((metadata) => metadata.partition));
    pending = pending.filter((message) => !answered.has(message.partition!));
    if (pending.length === 0) return;
    if (round === UNANSWERED_ROUNDS) throw new Error(`Kafka left partitions ${[...new Set(pending.map((m) => m.partition))].join(', ')} unanswered ${round} times`);
    log.warn({ partitions: [...new Set(pending.map((m) => m.partition))] }, 'kafka: a send left partitions unanswered (a leader moved); sending them again');
  }
}
