// Cluster mode's start-up check, before anything else starts: the brokers answer, the events topic
// has exactly the data directory's partition count (engine partition p is Kafka partition p), and
// no other host is in the group (this version applies every partition on one host: state does not
// move between hosts yet). A topic that does not exist is created, with `HUNT_KAFKA_REPLICATION`
// replicas (default: the brokers, at most 3) and at least min(2, replicas) in sync for an
// `acks=all` write.
import { AssignerProtocol } from 'kafkajs';
import { ConfigError, type KafkaConfig } from '../../shared/config.js';
import { createKafka } from '../../shared/kafka-client.js';
import type { Logger } from '../../shared/logger.js';

/** Kafka's default max.message.bytes, and what a record adds to an event's bytes (header, batch framing). */
const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
const RECORD_MARGIN_BYTES = 64 * 1024;

/** Client retries at start-up: an unreachable cluster is reported in seconds, not minutes. */
const STARTUP_RETRIES = 2;

export async function checkCluster(config: KafkaConfig, partitions: number, maxPayloadBytes: number, host: string, log: Logger): Promise<void> {
  const admin = createKafka(config, 'hunt-engine-startup', log, STARTUP_RETRIES).admin();
  try {
    try {
      await admin.connect();
    } catch (error) {
      throw new ConfigError([`HUNT_KAFKA_BROKERS=${JSON.stringify(config.brokers.join(','))}: no broker answers (${(error as Error).message})`]);
    }
    const topics = await admin.listTopics();
    if (!topics.includes(config.topic)) {
      const { brokers } = await admin.describeCluster();
      const replication = config.replication ?? Math.min(3, brokers.length);
      if (replication > brokers.length) throw new ConfigError([`HUNT_KAFKA_REPLICATION=${replication}: the cluster has ${brokers.length} broker(s)`]);
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic: config.topic,
            numPartitions: partitions,
            replicationFactor: replication,
            configEntries: [
              { name: 'min.insync.replicas', value: String(Math.min(2, replication)) },
              // A message holds one record at least, and a record one event of a pub: room for the largest pub.
              { name: 'max.message.bytes', value: String(Math.max(DEFAULT_MAX_MESSAGE_BYTES, maxPayloadBytes + RECORD_MARGIN_BYTES)) },
            ],
          },
        ],
      });
      log.info({ topic: config.topic, partitions, replication }, 'events topic created');
    } else {
      const [metadata] = (await admin.fetchTopicMetadata({ topics: [config.topic] })).topics;
      const count = metadata!.partitions.length;
      if (count !== partitions) {
        throw new ConfigError([`HUNT_KAFKA_TOPIC=${JSON.stringify(config.topic)} has ${count} partitions; the data directory has ${partitions} (HUNT_PARTITIONS): engine partition p is Kafka partition p, so they must be equal`]);
      }
    }
    const [group] = (await admin.describeGroups([config.group])).groups;
    const others = new Set((group?.members ?? []).map((member) => hostOf(member.memberMetadata)).filter((other) => other !== host));
    if (others.size > 0) {
      throw new ConfigError([`HUNT_KAFKA_GROUP=${JSON.stringify(config.group)} already has engine host(s) ${[...others].join(', ')}: this version applies every partition on one host, so run one host per group`]);
    }
  } finally {
    await admin.disconnect();
  }
}

/** The engine host a group member belongs to (store-assigner.ts user data); "unknown" for other clients. */
function hostOf(metadata: Buffer): string {
  try {
    return String((JSON.parse(AssignerProtocol.MemberMetadata.decode(metadata)!.userData.toString()) as { host?: unknown }).host ?? 'unknown');
  } catch {
    return 'unknown';
  }
}
