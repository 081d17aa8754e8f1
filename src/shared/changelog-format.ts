// Cluster mode: the changelog topic's messages and the committed offsets that say how far it goes.
//
// The changelog topic (`<events topic>-changelog`, compacted) has the events topic's partitions;
// partition p holds, keyed so that compaction keeps the latest of each:
//   <user key>            → the key's MetaRecord (meta-codec.ts)
//   NUL "m" <producer>    → the producer's ProducerState in p (user keys and producer names never
//                           contain NUL, so these cannot collide with a user key)
//   NUL "p"               → ChangelogPosition: the state above is p's state as of there
// Each write is one Kafka transaction of one store (changelog-writer.ts), which also commits, for
// the group `<HUNT_KAFKA_GROUP>.changelog`, the events topic's offset of each partition it covers
// (the same position: offset, and `applied engineOffset` as metadata). So the group's committed
// offsets say where the changelog ends without reading it, and Kafka's own tools show how far the
// changelog lags the events topic.
import type { ChangelogPosition, LogPosition } from './store.js';

export const changelogTopic = (eventsTopic: string): string => `${eventsTopic}-changelog`;
export const changelogGroup = (group: string): string => `${group}.changelog`;

const MARK_PREFIX = '\u0000m';
/** The key of a partition's position entry. */
export const POSITION_KEY = '\u0000p';

export const markKey = (producer: string): string => MARK_PREFIX + producer;

/** A changelog key: a user key, a producer mark, or the position. */
export type ChangelogEntry = { kind: 'record'; key: string } | { kind: 'mark'; producer: string } | { kind: 'position' };

export function parseChangelogKey(key: string): ChangelogEntry {
  if (key === POSITION_KEY) return { kind: 'position' };
  if (key.startsWith(MARK_PREFIX)) return { kind: 'mark', producer: key.slice(MARK_PREFIX.length) };
  if (key.startsWith('\u0000')) throw new Error(`unknown changelog key ${JSON.stringify(key)}`);
  return { kind: 'record', key };
}

/** The committed offset's metadata of a position. */
export const positionMetadata = (position: ChangelogPosition): string => `${position.applied} ${position.engineOffset}`;

/** The position a committed offset and its metadata stand for; undefined for none (offset -1). */
export function positionOfCommit(offset: string, metadata: string | null): ChangelogPosition | undefined {
  const at = Number(offset);
  if (at < 0) return undefined;
  const [applied, engineOffset] = (metadata ?? '').split(' ').map(Number);
  if (!Number.isSafeInteger(applied) || !Number.isSafeInteger(engineOffset)) throw new Error(`committed changelog offset ${offset} has metadata ${JSON.stringify(metadata)}, not "<applied> <engine offset>"`);
  return { offset: at, applied: applied!, engineOffset: engineOffset! };
}

export const samePosition = (a: LogPosition | undefined, b: LogPosition | undefined): boolean =>
  a === undefined || b === undefined ? a === b : a.offset === b.offset && a.applied === b.applied;
