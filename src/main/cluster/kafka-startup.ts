// Cluster mode's start-up check, before anything else starts: the brokers answer, the events topic
// and its changelog topic have exactly the data directory's partition count (engine partition p is
// Kafka partition p), and the other hosts in the group have the same layout (stores are dealt
// between hosts by number). A topic that does not exist is created, with `HUNT_KAFKA_REPLICATION`
// replicas (default: the brokers, at most 3) and at least min(2, replicas) in sync for an
// `acks=all` write; the changelog is compacted.
import type { Admin, GroupDescription } from 'kafkajs';
import { subscriptionOfMetadata } from '../../shared/group-subscription.js';
import { ConfigError, type KafkaConfig } from '../../shared/config.js';
import { createKafka } from '../../shared/kafka-client.js';
import type { Layout } from '../../shared/partition.js';
import { changelogTopic } from '../../shared/changelog-format.js';
import type { Logger } from '../../shared/logger.js';

/** Kafka's default max.message.bytes, and what a record adds to an event's bytes (header, batch framing). */
const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
const RECORD_MARGIN_BYTES = 64 * 1024;

/** How long start-up waits for new topics' partitions to have leaders, and for the group's coordinator. */
const LEADERS_WAIT_MS = 30_000;
const LEADER_POLL_MS = 250;

/** Client retries at start-up: an unreachable cluster is reported in seconds, not minutes. */
const STARTUP_RETRIES = 2;

export async function checkCluster(config: KafkaConfig, layout: Layout, maxPayloadBytes: number, host: string, log: Logger): Promise<void> {
  const admin = createKafka(config, 'hunt-engine-startup', log, STARTUP_RETRIES).admin();
  try {
    try {
      await admin.connect();
    } catch (error) {
      throw new ConfigError([`HUNT_KAFKA_BROKERS=${JSON.stringify(config.brokers.join(','))}: no broker answers (${(error as Error).message})`]);
    }
    // A message holds one record at least, and a record one event of a pub (or one key's metadata): room for the largest pub.
    const maxMessageBytes = { name: 'max.message.bytes', value: String(Math.max(DEFAULT_MAX_MESSAGE_BYTES, maxPayloadBytes + RECORD_MARGIN_BYTES)) };
    await ensureTopics(admin, config, layout.partitions, [
      { topic: config.topic, configEntries: [maxMessageBytes] },
      { topic: changelogTopic(config.topic), configEntries: [maxMessageBytes, { name: 'cleanup.policy', value: 'compact' }] },
    ], log);
    for (const member of await groupMembers(admin, config.group)) {
      const other = subscriptionOfMetadata(member.memberMetadata);
      if (other === undefined || other.host === host) continue;
      if (other.stores !== layout.stores) {
        throw new ConfigError([`HUNT_KAFKA_GROUP=${JSON.stringify(config.group)} has host ${other.host} with ${other.stores} stores; this data directory has ${layout.stores} (HUNT_STORES): stores move between hosts by number, so every host of a group needs the same`]);
      }
    }
  } finally {
    await admin.disconnect();
  }
}

/** The group's members; on a new cluster its coordinator (the offsets topic) takes seconds to appear. */
async function groupMembers(admin: Admin, group: string): Promise<GroupDescription['members']> {
  for (let waited = 0; ; waited += LEADER_POLL_MS) {
    try {
      return (await admin.describeGroups([group])).groups[0]?.members ?? [];
    } catch (error) {
      if (waited >= LEADERS_WAIT_MS) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, LEADER_POLL_MS));
  }
}

/** Creates the topics that are missing, with the layout's partitions; checks the partition count of the others. */
async function ensureTopics(admin: Admin, config: KafkaConfig, partitions: number, topics: { topic: string; configEntries: { name: string; value: string }[] }[], log: Logger): Promise<void> {
  const existing = await admin.listTopics();
  const missing = topics.filter(({ topic }) => !existing.includes(topic));
  if (missing.length > 0) {
    const { brokers } = await admin.describeCluster();
    const replication = config.replication ?? Math.min(3, brokers.length);
    if (replication > brokers.length) throw new ConfigError([`HUNT_KAFKA_REPLICATION=${replication}: the cluster has ${brokers.length} broker(s)`]);
    const minInSync = { name: 'min.insync.replicas', value: String(Math.min(2, replication)) };
    // Leaders are waited for below: kafkajs's own wait gives up on a topic the broker does not know yet.
    await admin.createTopics({ waitForLeaders: false, topics: missing.map(({ topic, configEntries }) => ({ topic, numPartitions: partitions, replicationFactor: replication, configEntries: [minInSync, ...configEntries] })) });
    log.info({ topics: missing.map(({ topic }) => topic), partitions, replication }, 'topics created');
  }
  for (let waited = 0; ; waited += LEADER_POLL_MS) {
    const metadata = await admin.fetchTopicMetadata({ topics: topics.map(({ topic }) => topic) }).catch(() => null);
    if (metadata !== null && metadata.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) {
      for (const { name, partitions: found } of metadata.topics) {
        if (found.length !== partitions) {
          throw new ConfigError([`HUNT_KAFKA_TOPIC=${JSON.stringify(config.topic)}: topic ${name} has ${found.length} partitions; the data directory has ${partitions} (HUNT_PARTITIONS): engine partition p is Kafka partition p, so they must be equal`]);
        }
      }
      return;
    }
    if (waited >= LEADERS_WAIT_MS) throw new Error(`the topics ${topics.map(({ topic }) => topic).join(', ')} have no leader for every partition after ${LEADERS_WAIT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, LEADER_POLL_MS));
  }
}
