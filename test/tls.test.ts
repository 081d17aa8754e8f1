// TLS (HUNT_TLS_CERT / HUNT_TLS_KEY) with a certificate the test generates, start-up errors for
// bad TLS files, and the cap on open connections.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { runEngineToExit, startEngine, tempDir, TestClient } from './helpers.js';

/** A self-signed certificate for 127.0.0.1 and its key, made with openssl; returns the paths. */
function makeCertificate(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const made = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
  return { cert, key };
}

t.test('wss:// and https:// with the configured certificate', async (t) => {
  const dir = tempDir(t);
  const { cert, key } = makeCertificate(dir, 'server');
  const ca = fs.readFileSync(cert);
  const engine = await startEngine({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_TLS_CERT: cert, HUNT_TLS_KEY: key });
  t.teardown(() => engine.stop());

  const ws = new WebSocket(`wss://127.0.0.1:${engine.port}/v1/stream`, { ca });
  const replies: Record<string, unknown>[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      replies.push(JSON.parse(data.toString()));
      if (replies.length === 1) ws.send(JSON.stringify({ op: 'pub', id: 1, events: [{ key: 'secure', type: 't' }] }));
      else resolve();
    });
    ws.on('error', reject);
  });
  t.match(replies, [{ op: 'welcome' }, { op: 'ack', id: 1 }], 'verified TLS: welcome, pub, ack');
  ws.close();

  const health = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: engine.port, path: '/v1/keys/secure', ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
  t.equal(health.status, 200);
  t.match(JSON.parse(health.body), { count: 1 });
  await t.rejects(TestClient.connect(engine.port), 'plain ws:// is not served on a TLS port');
});

t.test('bad TLS settings stop start-up with exit 2 and the variable named', async (t) => {
  const dir = tempDir(t);
  const { cert, key } = makeCertificate(dir, 'one');
  const other = makeCertificate(dir, 'two');
  const garbage = path.join(dir, 'garbage.pem');
  fs.writeFileSync(garbage, 'not a certificate');
  const cases: [Record<string, string>, RegExp][] = [
    [{ HUNT_TLS_CERT: cert }, /HUNT_TLS_KEY is unset while HUNT_TLS_CERT is set/],
    [{ HUNT_TLS_CERT: path.join(dir, 'missing.crt'), HUNT_TLS_KEY: key }, /HUNT_TLS_CERT=.*missing\.crt.* is invalid: allowed is a readable PEM certificate file \(ENOENT/],
    [{ HUNT_TLS_CERT: garbage, HUNT_TLS_KEY: key }, /HUNT_TLS_CERT=.* is invalid: allowed is a readable PEM certificate/],
    [{ HUNT_TLS_CERT: cert, HUNT_TLS_KEY: garbage }, /HUNT_TLS_KEY=.* is invalid: allowed is a readable, unencrypted PEM private key/],
    [{ HUNT_TLS_CERT: cert, HUNT_TLS_KEY: other.key }, /HUNT_TLS_KEY=.* is invalid: allowed is the private key of the certificate/],
  ];
  for (const [env, message] of cases) {
    const { status, stdout } = runEngineToExit({ HUNT_DATA_DIR: path.join(dir, 'data'), ...env });
    t.equal(status, 2, `exit 2 for ${JSON.stringify(env)}`);
    t.match(stdout, message);
  }
});

t.test('HUNT_MAX_CONNECTIONS caps open WebSockets; a freed slot is usable again', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_MAX_CONNECTIONS: '2' });
  t.teardown(() => engine.stop());
  const first = await TestClient.connect(engine.port);
  const second = await TestClient.connect(engine.port);
  await first.welcome();
  await second.welcome();
  await t.rejects(TestClient.connect(engine.port), /upgrade refused: 503/);
  await first.close();
  const third = await TestClient.connect(engine.port);
  t.match(await third.welcome(), { op: 'welcome' });
  await second.close();
  await third.close();
});
