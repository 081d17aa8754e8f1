// The Python client's own tests (clients/python, pytest), run as part of `npm test` against the
// engine this build made: the shared test vectors with the client's codec, and the client against
// real engine processes (SIGKILLed under load, exact counts), and in cluster mode on a real Kafka
// broker (`native-bench/kafka-cluster.ts`). They need the Python environment that `npm run
// setup:python` makes (and `.ci/run` runs); without it this file is skipped, saying so.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ROOT } from './vectors/replay.js';

t.setTimeout(600_000);

const python = path.join(ROOT, '.venv/bin/python');
const ready = fs.existsSync(python) && spawnSync(python, ['-c', 'import hunt_client, pytest, pytest_asyncio'], { cwd: ROOT }).status === 0;

t.test('the Python client passes its tests (pytest)', { skip: ready ? false : 'no Python environment for the client: run `npm run setup:python`' }, async (t) => {
  const run = spawnSync(python, ['-m', 'pytest', 'clients/python', '-q', '-p', 'no:cacheprovider'], {
    cwd: ROOT,
    env: { ...process.env, HUNT_NODE: process.execPath, PYTHONDONTWRITEBYTECODE: '1' },
    encoding: 'utf8',
    timeout: 600_000,
  });
  const summary = run.stdout.trim().split('\n').at(-1) ?? '';
  t.equal(run.status, 0, `pytest: ${summary}`, { output: run.status === 0 ? undefined : run.stdout.slice(-6000) + run.stderr.slice(-2000) });
  t.match(summary, / passed/, 'pytest ran the tests');
  t.notMatch(summary, /failed|error|skipped/, 'none failed, errored or was skipped');
});
