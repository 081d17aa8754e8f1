// kafkajs can reject promises no caller awaits (a request that timed out while a broker restarted);
// a thread that uses kafkajs logs those and goes on, and still ends for any other unhandled
// rejection. Checked in real worker threads, as the engine's threads run.
import { Worker } from 'node:worker_threads';
import t from 'tap';

const MODULE = new URL('../src/shared/kafka-client.js', import.meta.url).href;

/** Runs a thread that installs the handler and leaves a rejection of an error named `name` unhandled; how it ended and what it logged. */
function strayRejection(name: string): Promise<{ exitCode: number; error: string | null; logged: string[] }> {
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(MODULE)}).then(({ handleStrayKafkaRejections }) => {
      handleStrayKafkaRejections({ warn: (fields, message) => parentPort.postMessage(message + ': ' + fields.err.message) });
      const error = new Error('request timed out');
      error.name = ${JSON.stringify(name)};
      Promise.reject(error);
      setTimeout(() => process.exit(0), 200);
    });`;
  const worker = new Worker(code, { eval: true });
  const logged: string[] = [];
  let error: string | null = null;
  worker.on('message', (message: string) => logged.push(message));
  worker.on('error', (e) => (error = e.message));
  return new Promise((resolve) => worker.on('exit', (exitCode) => resolve({ exitCode, error, logged })));
}

t.test("kafkajs's stray rejection is logged, and the thread goes on", async (t) => {
  const { exitCode, error, logged } = await strayRejection('KafkaJSRequestTimeoutError');
  t.equal(error, null, 'no error ended the thread');
  t.equal(exitCode, 0, 'it ended by itself, later');
  t.match(logged, [/no call awaits.*request timed out/], 'the rejection is logged');
});

t.test('any other unhandled rejection still ends the thread', async (t) => {
  const { error, logged } = await strayRejection('TypeError');
  t.equal(error, 'request timed out', 'the thread ended with the rejection');
  t.same(logged, [], 'nothing logged as ignored');
});
