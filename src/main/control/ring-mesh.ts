// The ring mesh: for every (acceptor, worker) pair an inbound ring of event records and an outbound
// ring of progress reports and change notices, plus each acceptor's subscription interest flags.
// A worker's inbound rings share its doorbell, so it sleeps on all of them at once.
import { createInterest } from '../../shared/interest.js';
import { createDoorbell, createRing } from '../../shared/ring.js';
import type { AcceptorLink } from '../../shared/worker-task.js';

// Progress reports are small; change notices (only with subscribers) can be a batch's worth.
const OUTBOUND_RING_BYTES = 8 << 20;

/** links[acceptor][worker]. */
export function createRingMesh(acceptors: number, workers: number, inboundRingBytes: number): AcceptorLink[][] {
  const doorbells = Array.from({ length: workers }, () => createDoorbell());
  return Array.from({ length: acceptors }, () => {
    const interest = createInterest();
    return doorbells.map((doorbell) => ({ inbound: createRing(inboundRingBytes, doorbell), outbound: createRing(OUTBOUND_RING_BYTES), interest }));
  });
}

/** One worker's links, index = acceptor. */
export function linksOfWorker(mesh: AcceptorLink[][], worker: number): AcceptorLink[] {
  return mesh.map((links) => links[worker]!);
}

/**
 * Cluster mode: a worker's log ring, filled by its own log reader from the events topic; its
 * doorbell is its own (the worker's forwarder sleeps on the acceptors' rings meanwhile).
 */
export function createLogLink(ringBytes: number): AcceptorLink {
  return { inbound: createRing(ringBytes), outbound: createRing(OUTBOUND_RING_BYTES), interest: createInterest() };
}
