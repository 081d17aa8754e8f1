// What the control thread and an acceptor thread tell each other (postMessage, never per event).
// Both ask: control asks an acceptor (AcceptorRequest), an acceptor asks control (ControlAsk), and
// each answers with a reply of the request's id.
import type { PartitionOwners } from '../cluster/ownership.js';
import type { EngineConfig } from '../../shared/config.js';
import type { Layout } from '../../shared/partition.js';
import type { RingBuffers } from '../../shared/ring.js';
import type { AcceptorLink } from '../../shared/worker-task.js';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { DashboardStats, StatsPart } from '../http/metrics.js';
import type { RoutesReload } from '../routes/routes.js';
import type { AuthSources } from '../auth/authenticator.js';
import type { AcceptorInspection, ProducerExpiryTest } from './acceptor.js';
import type { Reply } from './pending-replies.js';

/** The acceptor thread's workerData. */
export interface AcceptorThreadData {
  acceptor: number;
  /** With the port every acceptor listens on (resolved when HUNT_PORT is 0). */
  config: EngineConfig;
  layout: Layout;
  /** Its rings with each worker (index = worker) and its interest flags. */
  links: AcceptorLink[];
  /** Every acceptor's inbound ring to each worker, [worker][acceptor]: read for ring depths only. */
  workerInbound: RingBuffers[][];
  /** Per acceptor (index = acceptor), a Float64Array per partition: records it wrote; each writes its own. */
  recordsTaken: SharedArrayBuffer[];
  /** Float64Array per partition: records the workers settled. */
  settledRecords: SharedArrayBuffer;
  /** Int32Array per acceptor: its open WebSockets (http/connection-slots.ts). */
  connectionCounts: SharedArrayBuffer;
  /** The routes file's text the control thread read and checked (null: HUNT_ROUTES unset). */
  routesText: string | null;
  /** The credentials' settings and files as the control thread read and checked them. */
  auth: AuthSources;
  /** Cluster mode: which host applies each partition, as last seen (null: one host, or not seen yet). */
  owners: PartitionOwners | null;
  producerExpiry?: ProducerExpiryTest;
}

/** Marks of a producer handed from the acceptor that held it to the one where it said hello. */
export interface ProducerMarks {
  /** Highest seq taken into each partition, every one of them settled. */
  seqs: Float64Array;
  lastSeenMs: number;
}

/**
 * Control's answer to an acceptor claiming a producer: granted with the marks its last holder
 * handed over, or with null (the committed marks are the truth: load them from the stores); or
 * refused, as HUNT_MAX_PRODUCERS live producers are known.
 */
export type ProducerClaim = { outcome: 'granted'; marks: ProducerMarks | null } | { outcome: 'full' };

/** Requests that an acceptor answers with a reply of the same id. */
export type AcceptorRequest =
  /** Start acking and taking connections; answered once it does. */
  | { op: 'start' }
  /** Switch to the routes of `text` (checked by control). */
  | { op: 'reload-routes'; trigger: string; text: string }
  /** Switch to these credentials (checked by control) and re-check the open connections. */
  | { op: 'reload-auth'; auth: AuthSources }
  | { op: 'inspect' }
  /** Forget the producers idle at `nowMs`; answered with their names. */
  | { op: 'expire-producers'; nowMs: number }
  /** Fence the producer off and hand its marks over once all it sent here is settled (null: not held here). */
  | { op: 'release-producer'; name: string }
  | { op: 'metrics' }
  | { op: 'stats' }
  /** Stop taking connections and pubs; answered once every pub taken is answered. */
  | { op: 'drain' };

export interface AcceptorReplies {
  start: null;
  'reload-routes': null;
  'reload-auth': null;
  inspect: AcceptorInspection;
  'expire-producers': string[];
  'release-producer': ProducerMarks | null;
  metrics: MetricObjectWithValues<MetricValue<string>>[];
  stats: StatsPart;
  drain: null;
}

/** Requests that control answers with an answer of the same id. */
export type ControlAsk =
  | { op: 'claim-producer'; name: string }
  /** The whole engine's metrics, in Prometheus text. */
  | { op: 'metrics' }
  | { op: 'stats' }
  | { op: 'reload-routes'; trigger: string };

export interface ControlReplies {
  'claim-producer': ProducerClaim;
  metrics: string;
  stats: DashboardStats;
  'reload-routes': RoutesReload;
}

export type ToAcceptor =
  | { op: 'request'; id: number; request: AcceptorRequest }
  | ({ op: 'answer' } & Reply)
  | { op: 'worker-restarted' }
  /** Cluster mode: the partitions changed hosts. */
  | { op: 'partition-owners'; owners: PartitionOwners }
  /** Tests only: throw an uncaught error in the acceptor thread (Engine.faultAcceptor). */
  | { op: 'fault' }
  /**
   * Close the connections left with `code`, then end the thread. `failed`: after a fault, so
   * nothing more is acked meanwhile.
   */
  | { op: 'close'; code: number; reason: string; failed: boolean };

export type FromAcceptor =
  | { op: 'listening'; port: number }
  | { op: 'listen-failed'; message: string }
  | ({ op: 'reply' } & Reply)
  | { op: 'ask'; id: number; ask: ControlAsk }
  /** Producers it forgot on its own (idle past the TTL): it no longer holds them. */
  | { op: 'producers-forgotten'; names: string[] }
  /** The engine cannot go on safely (a worker reported Fatal). */
  | { op: 'fatal'; message: string };
