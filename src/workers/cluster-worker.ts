// A partition worker in cluster mode: three parts on one thread. The forwarder sends what the
// acceptors take to the Kafka events topic and acks it once Kafka has it; the log reader reads the
// topic's partitions of this worker's stores into the log ring; the partition loop applies them,
// committing each partition's position in the topic with its state, and sends change notices to
// the acceptors.
//
// A fourth part writes what the loop's commits change to the changelog topic, from which a host
// given the worker's stores restores them (changelog-writer.ts, partition-handover.ts).
//
// A replacement thread (the last one died) drops what its predecessor left in the log ring: the
// reader reads the topic again from the committed positions.
import { Partitioners } from 'kafkajs';
import type { Logger } from '../shared/logger.js';
import { createKafka, handleStrayKafkaRejections } from '../shared/kafka-client.js';
import { RingReader } from '../shared/ring.js';
import type { StoreSet } from '../shared/store.js';
import type { ClusterTask, PartitionWorkerResult, PartitionWorkerTask } from '../shared/worker-task.js';
import { AcceptorRings } from './acceptor-rings.js';
import { ChangelogWriter } from './changelog-writer.js';
import { PartitionHandover } from './partition-handover.js';
import { LogForwarder } from './log-forwarder.js';
import { LogReader } from './log-reader.js';
import { PartitionLoop } from './partition-loop.js';
import { PlainMessageReader } from './plain-message.js';
import { WorkerStats } from '../shared/worker-stats.js';

export async function runClusterWorker(task: PartitionWorkerTask, cluster: ClusterTask, stores: StoreSet, log: Logger): Promise<PartitionWorkerResult> {
  handleStrayKafkaRejections(log);
  for (const ring of [cluster.logLink.inbound, cluster.logLink.outbound]) dropUnread(new RingReader(ring));
  const acceptorRings = task.acceptors.map((link, acceptor) => new AcceptorRings(acceptor, link, stores, task.ownedStores));
  const logRings = new AcceptorRings(task.acceptors.length, cluster.logLink, stores, task.ownedStores);
  const kafka = createKafka(cluster.kafka, `hunt-${task.worker}`, log);
  const changelog = new ChangelogWriter(kafka, cluster.kafka, stores, task.ownedStores, log);
  const loop = new PartitionLoop(task, stores, log, { sources: [logRings], notices: acceptorRings, fromLog: true, changelog });
  const handover = new PartitionHandover(kafka, cluster.kafka, stores, changelog, loop, `${cluster.host}.w${task.worker}`, log);
  // Every message names its partition (the engine's partition function); the partitioner is never asked.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  const member = { host: cluster.host, url: cluster.url, worker: task.worker, workers: cluster.workers, stores: task.layout.stores, partitions: task.layout.partitions };
  const plain = { reader: new PlainMessageReader(cluster.limits, task.layout.partitions), stats: new WorkerStats(task.stats), routes: cluster.routes };
  const reader = new LogReader(kafka, cluster.kafka, cluster.logLink, stores, member, handover, changelog, plain, log, (error) => void loop.halt(error.message));
  const forwarder = new LogForwarder(acceptorRings, producer, cluster.kafka.topic, task.layout.partitions, log);
  const applying = loop.run();
  await producer.connect();
  await reader.start();
  await forwarder.run();
  // The acceptors closed their rings and everything they took is in Kafka: what is not applied yet
  // stays there for the next start.
  await reader.stop();
  await producer.disconnect();
  const result = await applying;
  // Writes what the loop applied last (or what the next start writes, if Kafka refuses now).
  await changelog.close();
  await handover.close();
  return result;
}

function dropUnread(reader: RingReader): void {
  while (reader.next() !== -1);
  if (reader.pendingRecords() > 0) reader.release();
}
