// The shared test vectors (test/vectors/vectors.json) against live engines: every frame exactly as
// its encoder wrote it (Python's msgpack, @msgpack/msgpack, hand-written widths, JSON text), the
// answers read with an independent decoder, the records over HTTP. Several acceptor-side paths
// meet here: the pub scanner, the general decode, routed pubs from bytes and decoded.
import { decode } from '@msgpack/msgpack';
import t from 'tap';
import { startEngine, tempDir } from './helpers.js';
import { decodeServerMessage, encodeClientMessage } from '../src/client/codec.js';
import { engineEnv, loadVectors, replayCase } from './vectors/replay.js';

const vectors = loadVectors();

for (const engine of Object.keys(vectors.engines)) {
  t.test(`vectors on the "${engine}" engine`, async (t) => {
    const cases = vectors.cases.filter((vector) => vector.engine === engine);
    t.ok(cases.length > 0, 'the file has cases for it');
    const live = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_WORKERS: '3', ...engineEnv(vectors, engine) });
    t.teardown(() => live.stop());
    for (const vector of cases) {
      await replayCase(t, vector, {
        port: live.port,
        frameOf: (step) => (step.encoding === 'json' ? { data: step.frame!, binary: false } : { data: Buffer.from(step.frame!, 'hex'), binary: true }),
        // @msgpack/msgpack reads a uint64 as a number: an answer the engine wrote beyond 2^53 would not match.
        decode: (data, binary) => (binary ? decode(data) : JSON.parse(data.toString('utf8'))),
      });
    }
  });
}

// The TypeScript client's codec (src/client/codec.ts): every message the file holds as JSON,
// encoded by the client itself, gets the answers the file expects, decoded by the client.
t.test('vectors with the TypeScript client\'s codec', async (t) => {
  const live = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_WORKERS: '3', ...engineEnv(vectors, 'merge') });
  t.teardown(() => live.stop());
  const routed = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_WORKERS: '3', ...engineEnv(vectors, 'routes') });
  t.teardown(() => routed.stop());
  for (const vector of vectors.cases) {
    await replayCase(t, vector, {
      port: vector.engine === 'routes' ? routed.port : live.port,
      frameOf: (step) => {
        if (step.message === undefined) return null;
        const frame = encodeClientMessage(step.message as Record<string, unknown>, step.encoding!);
        return { data: frame, binary: typeof frame !== 'string' };
      },
      decode: (data, binary) => decodeServerMessage(binary ? new Uint8Array(data) : data.toString('utf8')),
    });
  }
});
