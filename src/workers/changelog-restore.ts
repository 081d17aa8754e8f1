// Cluster mode: a partition's state read back from the changelog topic (changelog-format.ts), for a
// worker that is given a store whose local state is not the one the changelog ends at (another host
// held it, or this data directory is new). The caller clears the partitions first; this writes
// every entry of their changelog partitions, committed transactions only, up to the position the
// changelog group's offsets name, and then that position, in LMDB: the loop goes on from there.
//
// kafkajs reads only as a group member, so the read is done by a consumer of a group of its own
// (one member, dealt the partitions being restored), which leaves when it is done.
import { AssignerProtocol, type Kafka, type EachBatchPayload } from 'kafkajs';
import type { KafkaConfig } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { decodeChangelogPosition, encodeChangelogPosition, encodeLogPosition, type ChangelogPosition, type ProducerKey, type StoreSet } from '../shared/store.js';
import { changelogTopic, parseChangelogKey, samePosition } from '../shared/changelog-format.js';

/** A restore that reads nothing for this long has hit the changelog's end before its position. */
const STALL_MS = 30_000;
const RESTORE_ASSIGNER = 'HuntRestore';

export interface RestoreResult {
  entries: number;
  ms: number;
}

export async function restoreFromChangelog(kafka: Kafka, config: KafkaConfig, member: string, stores: StoreSet, targets: Map<number, ChangelogPosition>, log: Logger): Promise<RestoreResult> {
  const topic = changelogTopic(config.topic);
  const started = performance.now();
  const partitions = [...targets.keys()];
  const consumer = kafka.consumer({
    groupId: `${config.group}.restore.${member}.${Date.now()}`,
    partitionAssigners: [onlyThese(partitions)],
    allowAutoTopicCreation: false,
    maxBytesPerPartition: 16 << 20,
  });
  const left = new Set(partitions);
  let entries = 0;
  let lastRead = Date.now();
  let settle!: (error?: Error) => void;
  const finished = new Promise<void>((resolve, reject) => (settle = (error) => (error === undefined ? resolve() : reject(error))));

  const take = ({ batch }: EachBatchPayload): Promise<void> => {
    const p = batch.partition;
    lastRead = Date.now();
    if (!left.has(p)) return Promise.resolve();
    const store = stores.ofPartition(p);
    const target = targets.get(p)!;
    try {
      store.root.transactionSync(() => {
        for (const message of batch.messages) {
          const entry = parseChangelogKey(message.key?.toString() ?? '');
          const value = message.value;
          entries++;
          if (entry.kind === 'record') {
            if (value === null) store.meta.removeSync(entry.key);
            else store.meta.putSync(entry.key, value);
          } else if (entry.kind === 'mark') {
            if (value === null) store.producers.removeSync([p, entry.producer] as ProducerKey);
            else store.producers.putSync([p, entry.producer] as ProducerKey, value);
          } else if (value !== null && samePosition(decodeChangelogPosition(value), target)) {
            // Every entry before this is as of the target; none follows it (this worker fenced the writers).
            store.positions.putSync(p, encodeLogPosition(target));
            store.logged.putSync(p, encodeChangelogPosition(target));
            store.partitions.putSync(p, target.engineOffset);
            left.delete(p);
            break;
          }
        }
      });
    } catch (error) {
      settle(new Error(`changelog partition ${p}: ${(error as Error).message}`));
      return Promise.resolve();
    }
    if (!left.has(p)) consumer.pause([{ topic, partitions: [p] }]);
    if (left.size === 0) settle();
    return Promise.resolve();
  };

  const stall = setInterval(() => {
    if (Date.now() - lastRead > STALL_MS) settle(new Error(`changelog partition(s) ${[...left].join(', ')} end before the position their committed offsets name`));
  }, 1000);
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) settle(payload.error);
    });
    await consumer.run({ autoCommit: false, eachBatch: take });
    await finished;
  } finally {
    clearInterval(stall);
    await consumer.disconnect();
  }
  const ms = performance.now() - started;
  log.info({ partitions, entries, ms: Math.round(ms) }, 'partitions restored from the changelog');
  return { entries, ms };
}

/** The restore group's one member reads exactly the partitions being restored. */
function onlyThese(partitions: number[]) {
  return () => ({
    name: RESTORE_ASSIGNER,
    version: 0,
    async assign({ members, topics }: { members: { memberId: string }[]; topics: string[] }) {
      return members.map(({ memberId }, i) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: { [topics[0]!]: i === 0 ? partitions : [] }, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }: { topics: string[] }) {
      return { name: RESTORE_ASSIGNER, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
    },
  });
}
