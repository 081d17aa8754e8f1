// Cluster mode: what a worker does when the group gives it partitions (whole stores), before its
// log reader feeds them to the loop. The stores' transactional producers start first, fencing any
// host that held them, so the changelog and its committed offsets are final. Then each partition's
// local state is kept if it is the one the changelog ends at (its last changelog write was this data
// directory's, and what it applied since is staged), and otherwise replaced: cleared, then restored
// from the changelog (changelog-restore.ts). The loop is held between batches while partitions are
// cleared, and skips their records already in its ring (partition-loop.ts, Resume records).
import type { Admin, Kafka } from 'kafkajs';
import type { Database, Key } from 'lmdb';
import type { KafkaConfig } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { storeOf } from '../shared/partition.js';
import type { ChangelogPosition, Store, StoreSet } from '../shared/store.js';
import { changelogGroup, positionOfCommit, samePosition } from '../shared/changelog-format.js';
import { restoreFromChangelog } from './changelog-restore.js';
import { keysOfPartition, type ChangelogWriter } from './changelog-writer.js';

/** The partition loop, as the handover needs it. */
export interface HeldLoop {
  hold(): Promise<() => void>;
  resetPartitions(partitions: number[]): void;
}

export class PartitionHandover {
  private admin: Admin | null = null;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: KafkaConfig,
    private readonly stores: StoreSet,
    private readonly changelog: ChangelogWriter,
    private readonly loop: HeldLoop,
    /** This worker in the group, for its restore groups' names. */
    private readonly member: string,
    private readonly log: Logger,
  ) {}

  /**
   * Makes the partitions' local state the changelog's (or keeps it when it is); `current` says
   * whether the assignment that gave them is still the group's. Resolves false if it no longer is.
   */
  async take(partitions: number[], current: () => boolean): Promise<boolean> {
    const { layout } = this.stores;
    const stores = [...new Set(partitions.map((p) => storeOf(p, layout.stores)))];
    for (const s of stores) await this.changelog.claim(s);
    const committed = await this.committedPositions(partitions);
    if (!current()) return false;
    const restore = new Map<number, ChangelogPosition>();
    const release = await this.loop.hold();
    try {
      for (const p of partitions) {
        const local = this.stores.loggedPosition(p);
        const target = committed.get(p);
        if (samePosition(local, target)) {
          // State applied before the changelog existed (an earlier version's data directory): all of it is written.
          if (local === undefined && this.stores.logPosition(p).offset > 0) this.changelog.stageAll(p);
          continue;
        }
        this.log.info({ partition: p, local, changelog: target }, 'partition state replaced from the changelog');
        clearPartition(this.stores.ofPartition(p), p, layout.partitions);
        this.changelog.forget(p);
        if (target !== undefined) restore.set(p, target);
      }
      this.loop.resetPartitions(partitions);
    } finally {
      release();
    }
    if (restore.size > 0) await restoreFromChangelog(this.kafka, this.config, this.member, this.stores, restore, this.log);
    return current();
  }

  async close(): Promise<void> {
    await this.admin?.disconnect();
  }

  /** Where the changelog of each partition ends: its group's committed offsets. */
  private async committedPositions(partitions: number[]): Promise<Map<number, ChangelogPosition>> {
    if (this.admin === null) {
      this.admin = this.kafka.admin();
      await this.admin.connect();
    }
    const [offsets] = await this.admin.fetchOffsets({ groupId: changelogGroup(this.config.group), topics: [this.config.topic] });
    const positions = new Map<number, ChangelogPosition>();
    for (const { partition, offset, metadata } of offsets?.partitions ?? []) {
      const position = partitions.includes(partition) ? positionOfCommit(offset, metadata) : undefined;
      if (position !== undefined) positions.set(partition, position);
    }
    return positions;
  }
}

/** Deletes everything partition p has in its store: it is about to be restored, or to start over. */
function clearPartition(store: Store, p: number, partitions: number): void {
  store.root.transactionSync(() => {
    // Keys are gathered before any is removed: no cursor walks a tree while it changes.
    for (const key of [...keysOfPartition(store, p, partitions)]) store.meta.removeSync(key);
    // Their keys start with the partition: [p, …].
    for (const db of [store.producers, store.log, store.unlogged] as unknown as Database<Buffer, Key[]>[]) {
      for (const key of [...db.getKeys({ start: [p], end: [p + 1] })]) db.removeSync(key);
    }
    store.positions.removeSync(p);
    store.logged.removeSync(p);
    store.partitions.removeSync(p);
  });
}
