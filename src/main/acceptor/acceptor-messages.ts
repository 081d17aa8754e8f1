// What the control thread and an acceptor thread tell each other (postMessage, never per event).
import type { EngineConfig } from '../../shared/config.js';
import type { Layout } from '../../shared/partition.js';
import type { AcceptorLink } from '../../shared/worker-task.js';
import type { RoutesReload } from '../routes/routes.js';
import type { AcceptorInspection, ProducerExpiryTest } from './acceptor.js';

/** The acceptor thread's workerData. */
export interface AcceptorThreadData {
  acceptor: number;
  config: EngineConfig;
  layout: Layout;
  /** Its rings with each worker (index = worker) and its interest flags. */
  links: AcceptorLink[];
  /** Float64Array per partition: records this acceptor wrote for it. */
  recordsTaken: SharedArrayBuffer;
  /** Float64Array per partition: records the workers settled. */
  settledRecords: SharedArrayBuffer;
  /** Each worker's histograms (worker-stats.ts). */
  workerStats: SharedArrayBuffer[];
  /** Float64Array [worker restarts, acceptor restarts] since the engine started; control writes. */
  restarts: SharedArrayBuffer;
  producerExpiry?: ProducerExpiryTest;
}

/** Requests that the acceptor answers with a Reply of the same id. */
export type AcceptorRequest =
  /** Start acking and taking connections; answered once it does. */
  | { op: 'start' }
  | { op: 'reload-routes'; trigger: string }
  | { op: 'inspect' }
  | { op: 'expire-producers'; nowMs: number }
  /** Stop taking connections and pubs; answered once every pub taken is answered. */
  | { op: 'drain' };

export interface AcceptorReplies {
  start: null;
  'reload-routes': RoutesReload;
  inspect: AcceptorInspection;
  'expire-producers': number;
  drain: null;
}

export type ToAcceptor =
  | { op: 'request'; id: number; request: AcceptorRequest }
  | { op: 'worker-restarted' }
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
  | { op: 'reply'; id: number; value: unknown }
  /** The engine cannot go on safely (a worker reported Fatal). */
  | { op: 'fatal'; message: string };
