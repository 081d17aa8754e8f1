// The bench's events, by workload shape, for key number k (the i-th event of its pub): shared by
// the load generator and the in-process micro-benches, so both measure the same events.

export type EventShape = 'plain' | 'hunt';

export interface BenchEvent {
  key: string;
  type: string;
  data: Record<string, unknown>;
}

/**
 * plain: types clue/step with {points, zone}; hunt: `clue.found` events shaped for
 * examples/treasure-hunt.routes.json ({hunt, clue, points, zone}), 3 fan-out keys each.
 */
export function benchEvent(shape: EventShape, key: string, k: number, i: number): BenchEvent {
  if (shape === 'hunt') return { key, type: 'clue.found', data: { hunt: `h${k % 4}`, clue: `c${k % 50}`, points: (k % 7) + 1, zone: `z${k % 16}` } };
  return { key, type: i % 3 === 0 ? 'clue' : 'step', data: { points: (k % 7) + 1, zone: `z${k % 16}` } };
}
