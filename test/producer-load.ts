// Load from idempotent producers for the crash tests (one host, and cluster mode): producers that
// stream pubs, are cut off when the engine is SIGKILLed, reconnect and re-send every pub not acked
// plus a few that were; and what every key must hold at the end, counted from what they sent.
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { wire } from './helpers.js';

export const PRODUCERS = 3;
const KEYS = 37;
const EVENTS_PER_PUB = 12;
const WINDOW = 16;

const keyOf = (producer: number, seq: number, i: number) => `key-${(producer * 11 + seq * 7 + i * 5) % KEYS}`;
const EXAMPLE_ROUTES = fileURLToPath(new URL('../../examples/treasure-hunt.routes.json', import.meta.url));

/** A workload: the events of a producer's pub `seq`, and what the records must hold at the end. */
export interface Workload {
  events(producer: number, seq: number): { key: string; type: string; data?: Record<string, unknown> }[];
  /** Per key, the record's fields (or counters) that the events sent must have made, checked exactly. */
  expected(states: ProducerState[]): Map<string, Record<string, number>>;
  env: Record<string, string>;
}

/** Adds `n` to a field of a key's expected record. */
function add(expected: Map<string, Record<string, number>>, key: string, field: string, n: number): void {
  const record = expected.get(key) ?? {};
  record[field] = (record[field] ?? 0) + n;
  expected.set(key, record);
}

/** Every event of every pub a producer sent (seqs 1 to nextSeq − 1). */
function* sentEvents(states: ProducerState[], workload: Workload) {
  for (const state of states) for (let seq = 1; seq < state.nextSeq; seq++) yield* workload.events(state.index, seq);
}

export const PLAIN: Workload = {
  events: (producer, seq) => Array.from({ length: EVENTS_PER_PUB }, (_, i) => ({ key: keyOf(producer, seq, i), type: 'tick' })),
  expected(states) {
    const expected = new Map<string, Record<string, number>>();
    for (const event of sentEvents(states, PLAIN)) add(expected, event.key, 'count', 1);
    return expected;
  },
  env: {},
};

/** Clues found (examples/treasure-hunt.routes.json): each updates its player and fans out to 3 keys. */
export const ROUTED: Workload = {
  events: (producer, seq) =>
    Array.from({ length: EVENTS_PER_PUB }, (_, i) => ({
      key: `player:${(producer * 11 + seq * 7 + i * 5) % KEYS}`,
      type: 'clue.found',
      data: { hunt: `h${seq % 2}`, clue: `c${(seq + i) % 5}`, points: 1 + (i % 3), zone: i % 2 === 0 ? 'north' : 'south' },
    })),
  expected(states) {
    const expected = new Map<string, Record<string, number>>();
    for (const { key, data } of sentEvents(states, ROUTED)) {
      const { hunt, clue, points, zone } = data as { hunt: string; clue: string; points: number; zone: string };
      add(expected, key, 'count', 1);
      add(expected, key, 'points', points);
      add(expected, `hunt:${hunt}`, 'finds', 1);
      add(expected, `zone:${hunt}:${zone}`, 'finds', 1);
      add(expected, `zone:${hunt}:${zone}`, 'points', points);
      add(expected, `clue:${hunt}:${clue}`, 'finds', 1);
    }
    return expected;
  },
  env: { HUNT_ROUTES: EXAMPLE_ROUTES },
};

/** One idempotent producer's view: which of its seqs the engine has acknowledged. */
export class ProducerState {
  readonly acked = new Set<number>();
  nextSeq = 1;
  dups = 0;
  constructor(readonly index: number) {}

  /** What to send after a reconnect: every seq not acked, plus the last few acked ones. */
  resendList(): number[] {
    const seqs: number[] = [];
    const ackedSorted = [...this.acked].sort((a, b) => a - b);
    for (const seq of ackedSorted.slice(-3)) seqs.push(seq);
    for (let seq = 1; seq < this.nextSeq; seq++) if (!this.acked.has(seq)) seqs.push(seq);
    return [...new Set(seqs)].sort((a, b) => a - b);
  }
}

/**
 * Connects as the producer, re-sends, then keeps sending new pubs (at most WINDOW unacked) until
 * `stopNew` says so and everything sent is acked, or the connection dies.
 */
export function drive(port: number, state: ProducerState, workload: Workload, stopNew: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`, ['hunt.v1.msgpack']);
    const queue = state.resendList();
    let inFlight = 0;
    const pump = () => {
      while (inFlight < WINDOW && ws.readyState === WebSocket.OPEN) {
        let seq = queue.shift();
        if (seq === undefined) {
          if (stopNew()) break;
          seq = state.nextSeq++;
        }
        ws.send(wire.pack({ op: 'pub', id: seq, seq, events: workload.events(state.index, seq) }));
        inFlight++;
      }
      if (inFlight === 0 && queue.length === 0 && stopNew()) ws.close();
    };
    ws.on('message', (data: Buffer) => {
      const message = wire.unpack(data) as { op: string; id: number | null; dup?: boolean; code?: string };
      if (message.op === 'welcome') {
        ws.send(wire.pack({ op: 'hello', id: 0, producer: `producer-${state.index}` }));
        return;
      }
      if (message.op === 'ack' && message.id === 0) return pump();
      if (message.op === 'ack') {
        state.acked.add(message.id!);
        if (message.dup) state.dups++;
      } else if (message.op === 'error') {
        throw new Error(`unexpected error reply: ${JSON.stringify(message)}`);
      }
      inFlight--;
      pump();
    });
    ws.on('error', () => {});
    ws.on('close', () => resolve());
  });
}

/** The engine's records of the expected keys, read as `expected` words them (count, or fields); `read` gets a key's record. */
export async function recordsAsExpected(read: (key: string) => Promise<{ body: any }>, expected: Map<string, Record<string, number>>): Promise<Record<string, Record<string, number>>> {
  const actual: Record<string, Record<string, number>> = {};
  for (const [key, fields] of expected) {
    const meta = (await read(key)).body;
    actual[key] = Object.fromEntries(Object.keys(fields).map((field) => [field, field === 'count' ? (meta?.count ?? 0) : (meta?.fields?.[field] ?? 0)]));
  }
  return actual;
}
