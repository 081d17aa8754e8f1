// Cluster mode's Kafka clients (kafkajs), made alike on the control thread (start-up checks) and in
// the partition workers (producer and consumer), with kafkajs's own log lines going to ours.
import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { KafkaConfig } from './config.js';
import type { Logger } from './logger.js';

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
        if (level <= logLevel.ERROR) log.error({ kafka: fields }, `kafka: ${message}`);
        else log.warn({ kafka: fields }, `kafka: ${message}`);
      },
  });
}
