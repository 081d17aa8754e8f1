// Exactly-once effects across kill -9: the engine runs as a child process under load from several
// idempotent producers and is SIGKILLed at random moments, round after round. After each restart
// the producers reconnect and re-send every pub not acked plus a few that were. At the end every
// key's count is exactly the number of events the producers meant to send: nothing acked was lost
// and nothing re-sent was applied twice. With the treasure-hunt routes, the same holds for every
// fan-out key (each clue found counts once on its hunt, zone and clue records).
import t from 'tap';
import { startEngineProcess, type EngineProcess } from '../native-bench/engine-process.js';
import { getKey, tempDir } from './helpers.js';
import { drive, PLAIN, PRODUCERS, ProducerState, recordsAsExpected, ROUTED } from './producer-load.js';

const runs = [
  { name: 'async', durability: 'async', rounds: 4, workload: PLAIN },
  { name: 'sync', durability: 'sync', rounds: 2, workload: PLAIN },
  { name: 'routes, async', durability: 'async', rounds: 3, workload: ROUTED },
] as const;

for (const { name, durability, rounds, workload } of runs) {
  t.test(`${name}: SIGKILL at random moments under load from idempotent producers; counts exact`, async (t) => {
    const env = { HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: durability, ...workload.env };
    // Thread counts change between runs (the data stays), and most runs have two acceptors, so
    // producers come back on another acceptor than the one they last wrote through.
    const threads = (round: number) => ({ HUNT_ACCEPTORS: String(2 - (round % 2)), HUNT_WORKERS: String(3 - (round % 2)) });
    const states = Array.from({ length: PRODUCERS }, (_, i) => new ProducerState(i));
    let engine: EngineProcess | null = null;
    t.teardown(() => engine?.stop('SIGKILL'));
    let ackedBeforeKills = 0;
    for (let round = 0; round < rounds; round++) {
      engine = await startEngineProcess({ ...env, ...threads(round) });
      const ackedBefore = states.reduce((n, s) => n + s.acked.size, 0);
      const running = states.map((state) => drive(engine!.port, state, workload, () => false));
      // Kill at a random moment once load is flowing (a few acks in), however slow the machine.
      for (let waited = 0; waited < 20_000 && states.reduce((n, s) => n + s.acked.size, 0) < ackedBefore + 10; waited += 10) {
        await new Promise((r) => setTimeout(r, 10));
      }
      await new Promise((r) => setTimeout(r, Math.random() * 500));
      await engine.stop('SIGKILL');
      await Promise.all(running);
      ackedBeforeKills = states.reduce((n, s) => n + s.acked.size, 0);
    }
    t.ok(ackedBeforeKills > 0, `${ackedBeforeKills} pubs acked before the kills`);

    // Final round: re-send everything not acked (and a few that were), send nothing new.
    engine = await startEngineProcess({ ...env, ...threads(0) });
    await Promise.all(states.map((state) => drive(engine!.port, state, workload, () => true)));
    for (const state of states) t.equal(state.acked.size, state.nextSeq - 1, `producer ${state.index}: every pub acked in the end`);
    t.ok(states.some((s) => s.dups > 0), `re-sends were recognised (${states.map((s) => s.dups).join(', ')} dups)`);

    const expected = workload.expected(states);
    t.same(await recordsAsExpected((key) => getKey(engine!.port, key), expected), Object.fromEntries(expected), 'every key (fan-out keys included) holds each event exactly once');
    t.equal(await engine.stop(), 0);
    engine = null;
  });
}
