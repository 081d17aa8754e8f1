// Who may do what: static tokens with scopes (HUNT_AUTH_FILE) and JWTs (HUNT_JWT_SECRET_FILE),
// against a real engine with two acceptors. A read-only browser token watches its player's key and
// is refused everything else; a pub token limited to `player:` cannot write other keys (fan-out of
// the operator's routes excepted); bad JWTs are refused at the upgrade; expiry closes a connection
// unless `auth` replaced its token; a reload revokes removed tokens.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { HuntClient, type Update } from '../src/client/index.js';
import { startEngineProcess } from '../native-bench/engine-process.js';
import { httpGet, keyPath, runEngineToExit, scrapeMetrics, startEngine, tempDir, TestClient, TWO_ACCEPTORS, until } from './helpers.js';

const SECRET = 'a-jwt-secret-of-at-least-32-bytes-0123456789';
const GAME_TOKEN = 'game-server-token-0123456789';
const OPS_TOKEN = 'ops-token-0123456789abcdef';
const ROUTES = path.resolve('examples/treasure-hunt.routes.json');

const tokenFile = (lines: string[]) => `# tokens of the scopes test\n\n${lines.join('\n')}\n`;
const GAME_LINE = JSON.stringify({ name: 'game-server', token: GAME_TOKEN, pub: ['player:'], read: ['player:'] });
const OPS_LINE = JSON.stringify({ name: 'ops', sha256: createHash('sha256').update(OPS_TOKEN).digest('hex'), admin: true, read: [''] });

const nowS = () => Math.floor(Date.now() / 1000);

function jwt(claims: JWTPayload, { secret = SECRET, expiresInS = 3600, alg = 'HS256' }: { secret?: string; expiresInS?: number | null; alg?: string } = {}): Promise<string> {
  const token = new SignJWT(claims).setProtectedHeader({ alg }).setIssuedAt().setAudience('hunt-test');
  if (expiresInS !== null) token.setExpirationTime(nowS() + expiresInS);
  return token.sign(new TextEncoder().encode(secret));
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function connect(port: number, token: string, protocols: string[] = []): Promise<TestClient> {
  const client = await TestClient.connect(port, protocols, bearer(token));
  await client.welcome();
  return client;
}

async function setUp(t: { teardown(fn: () => unknown): void }) {
  const dir = tempDir(t);
  const authFile = path.join(dir, 'tokens.jsonl');
  fs.writeFileSync(authFile, tokenFile([GAME_LINE, OPS_LINE]));
  const secretFile = path.join(dir, 'jwt.secret');
  fs.writeFileSync(secretFile, `${SECRET}\n`);
  const engine = await startEngine({
    HUNT_DATA_DIR: path.join(dir, 'data'),
    HUNT_DURABILITY: 'async',
    HUNT_ROUTES: ROUTES,
    HUNT_AUTH_FILE: authFile,
    HUNT_JWT_SECRET_FILE: secretFile,
    HUNT_JWT_AUDIENCE: 'hunt-test',
    HUNT_LOG_RETENTION_EVENTS: '1000',
    ...TWO_ACCEPTORS,
  });
  t.teardown(() => engine.stop());
  return { engine, authFile };
}

t.test('a read-only JWT watches its own player and is refused the rest', async (t) => {
  const { engine } = await setUp(t);
  const game = await connect(engine.port, GAME_TOKEN, ['hunt.v1.msgpack']);
  const ann = await connect(engine.port, await jwt({ sub: 'ann', hunt: { read: ['player:ann'] } }));
  t.teardown(() => Promise.all([game.close(), ann.close()]));

  t.same(await ann.request({ op: 'sub', id: 1, keys: ['player:ann'] }), { op: 'ack', id: 1, __binary: false }, 'subscribes to its own key');
  t.match(await game.request({ op: 'pub', id: 1, events: [{ key: 'player:ann', type: 'join', data: { hunt: 'h1', name: 'Ann' } }] }, 'msgpack'), { op: 'ack', id: 1 });
  t.match(await ann.next((m) => m.op === 'update' && m.key === 'player:ann'), { meta: { fields: { name: 'Ann', hunt: 'h1' } } }, 'and gets its updates');

  const refused = [
    [{ op: 'pub', id: 2, events: [{ key: 'player:ann', type: 'join', data: { hunt: 'h1', name: 'Eve' } }] }, /pub of "player:ann": this token lacks the pub scope/],
    [{ op: 'get', id: 3, key: 'player:bob' }, /get of "player:bob": this token lacks the read scope/],
    [{ op: 'sub', id: 4, prefixes: ['player:'] }, /sub of prefix of "player:"/],
    [{ op: 'sub', id: 5, keys: ['player:ann', 'player:bob'] }, /sub of "player:bob"/],
    [{ op: 'replay', id: 6, partition: 0 }, /replay of a partition: this token lacks the read scope for every key/],
    [{ op: 'replay', id: 7, key: 'player:bob' }, /replay of "player:bob"/],
  ] as const;
  for (const [message, why] of refused) t.match(await ann.request(message as never), { op: 'error', id: message.id, code: 'FORBIDDEN', message: why }, `${message.op} refused`);
  t.match(await ann.request({ op: 'get', id: 8, key: 'player:ann' }), { op: 'meta', meta: { fields: { name: 'Ann' } } }, 'the connection stays open and nothing of the refused pub applied');
  t.match(await ann.request({ op: 'replay', id: 9, key: 'player:ann' }), { op: 'events', events: [{ key: 'player:ann', type: 'join' }] }, 'its own key\'s events replay');

  const helloFirst = await connect(engine.port, await jwt({ hunt: { read: ['player:ann'] } }));
  t.match(await helloFirst.request({ op: 'hello', id: 1, producer: 'game-server-1' }), { code: 'FORBIDDEN', message: /no pub scope/ }, 'a token without pub cannot claim (and fence) a producer');
  await helloFirst.close();
});

t.test('a pub token limited to player: cannot write other keys; routed fan-out is the operator\'s', async (t) => {
  const { engine } = await setUp(t);
  const game = await connect(engine.port, GAME_TOKEN, ['hunt.v1.msgpack']);
  const ops = await connect(engine.port, OPS_TOKEN);
  t.teardown(() => Promise.all([game.close(), ops.close()]));

  for (const encoding of ['msgpack', 'json'] as const) {
    const id = encoding === 'msgpack' ? 1 : 2;
    const events = [
      { key: `player:${encoding}`, type: 'join', data: { hunt: 'h1', name: 'A' } },
      { key: `hunt:${encoding}`, type: 'join', data: { hunt: 'h1', name: 'B' } },
    ];
    t.match(await game.request({ op: 'pub', id, events }, encoding), { op: 'error', code: 'FORBIDDEN', index: 1, message: new RegExp(`pub of "hunt:${encoding}"`) }, `${encoding}: the pub is refused, naming the event`);
    t.match(await ops.request({ op: 'get', id, key: `player:${encoding}` }), { op: 'meta', meta: null }, `${encoding}: nothing of it applied`);
  }
  t.match(await game.request({ op: 'pub', id: 3, events: [{ key: 'player:cy', type: 'join', data: { hunt: 'h2', name: 'Cy' } }] }, 'msgpack'), { op: 'ack', id: 3 });
  t.match(await ops.request({ op: 'get', id: 4, key: 'hunt:h2' }), { meta: { fields: { players: 1, playerKeys: ['player:cy'] } } }, 'the route\'s fan-out to hunt:h2 applied');
  t.match(await game.request({ op: 'get', id: 5, key: 'hunt:h2' }), { code: 'FORBIDDEN' }, 'which the pub token may not read');
});

t.test('HTTP endpoints check the scopes too, for static tokens and JWTs alike', async (t) => {
  const { engine } = await setUp(t);
  const game = await connect(engine.port, GAME_TOKEN);
  t.match(await game.request({ op: 'pub', id: 1, events: [{ key: 'player:ann', type: 'join', data: { hunt: 'h1', name: 'Ann' } }] }), { op: 'ack' });
  await game.close();
  const ann = bearer(await jwt({ hunt: { read: ['player:ann'] } }));
  t.equal((await httpGet(engine.port, keyPath('player:ann'), ann)).status, 200);
  t.match(await httpGet(engine.port, keyPath('player:bob'), ann), { status: 403, body: { error: 'FORBIDDEN', op: 'get', key: 'player:bob' } });
  t.match(await httpGet(engine.port, '/v1/keys?prefix=player%3A', ann), { status: 403, body: { error: 'FORBIDDEN', op: 'list' } });
  t.match(await httpGet(engine.port, '/v1/keys?prefix=player%3Aann', ann), { status: 200, body: { keys: [{ key: 'player:ann' }] } });
  for (const url of ['/v1/stats', '/v1/partitions']) {
    t.match(await httpGet(engine.port, url, ann), { status: 403, body: { error: 'FORBIDDEN' } }, `${url} needs admin`);
    t.equal((await httpGet(engine.port, url, bearer(OPS_TOKEN))).status, 200, `${url} with the admin token`);
  }
  t.match(await scrapeMetrics(engine.port, ann), { status: 403, text: /"error":"FORBIDDEN"/ }, '/metrics needs admin');
  t.match(await scrapeMetrics(engine.port, bearer(OPS_TOKEN)), { status: 200, text: /hunt_events_received_total/ }, '/metrics with the admin token');
  t.equal((await httpGet(engine.port, '/readyz', ann)).status, 200, 'any valid token may ask /readyz');
  t.equal((await httpGet(engine.port, '/readyz', bearer(`${GAME_TOKEN}x`))).status, 401);
});

t.test('bad JWTs are refused at the upgrade with 401', async (t) => {
  const { engine } = await setUp(t);
  const claims = { hunt: { read: ['player:ann'] } };
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ ...claims, aud: 'hunt-test', exp: nowS() + 3600 })).toString('base64url')}.`;
  const bad: [string, string][] = [
    ['expired', await jwt(claims, { expiresInS: -60 })],
    ['not yet valid', await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setAudience('hunt-test').setExpirationTime(nowS() + 7200).setNotBefore(nowS() + 3600).sign(new TextEncoder().encode(SECRET))],
    ['wrongly signed', await jwt(claims, { secret: 'another-secret-of-at-least-32-bytes-xxxxxxxx' })],
    ['alg: none', unsigned],
    ['without exp', await jwt(claims, { expiresInS: null })],
    ['for another audience', await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setAudience('other').setExpirationTime(nowS() + 60).sign(new TextEncoder().encode(SECRET))],
    ['without the hunt claim', await jwt({ sub: 'ann' })],
    ['with a scope typo', await jwt({ hunt: { raed: ['player:ann'] } })],
  ];
  for (const [what, token] of bad) {
    await t.rejects(TestClient.connect(engine.port, [], bearer(token)), /401/, what);
    t.equal((await httpGet(engine.port, keyPath('player:ann'), bearer(token))).status, 401, `${what}: HTTP too`);
  }
  const ws = await import('ws');
  const viaQuery = await new Promise<number>((resolve) => {
    const socket = new ws.default(`ws://127.0.0.1:${engine.port}/v1/stream?token=${bad[0]![1]}`);
    socket.once('unexpected-response', (req, res) => {
      req.destroy();
      resolve(res.statusCode!);
    });
    socket.once('open', () => resolve(101));
  });
  t.equal(viaQuery, 401, 'an expired token in the query parameter (browsers) too');
});

t.test('a JWT\'s expiry closes its connection (4003) unless auth replaced the token first', async (t) => {
  const { engine } = await setUp(t);
  const shortLived = { expiresInS: 2 };
  const closing = await connect(engine.port, await jwt({ hunt: { read: ['player:ann'] } }, shortLived));
  const refreshed = await connect(engine.port, await jwt({ hunt: { read: ['player:ann'] } }, shortLived));
  t.match(await refreshed.request({ op: 'auth', id: 1, token: 'not-a-known-token-at-all' }), { code: 'UNAUTHORIZED', message: /keeps its previous token/ });
  t.same(await refreshed.request({ op: 'auth', id: 2, token: await jwt({ hunt: { read: ['player:'] } }) }), { op: 'ack', id: 2, __binary: false });
  t.match(await refreshed.request({ op: 'get', id: 3, key: 'player:bob' }), { op: 'meta' }, 'the new token\'s scopes apply at once');
  t.same(await closing.closed, { code: 4003, reason: 'token expired: send auth with a new token before exp' });
  t.match(await refreshed.request({ op: 'get', id: 4, key: 'player:ann' }), { op: 'meta' }, 'the refreshed connection outlived the first token');
  await refreshed.close();
});

t.test('the client\'s token provider: a fresh JWT before each exp, on the same connection', async (t) => {
  const { engine } = await setUp(t);
  const issued: { askedAt: number; expMs: number }[] = [];
  const provider = async () => {
    const expMs = (nowS() + 2) * 1000;
    issued.push({ askedAt: Date.now(), expMs });
    return jwt({ hunt: { pub: ['player:'], read: ['player:'] } }, { expiresInS: expMs / 1000 - nowS() });
  };
  const client = await HuntClient.connect({ url: `ws://127.0.0.1:${engine.port}/v1/stream`, token: provider });
  t.teardown(() => client.close());
  const seen: Update[] = [];
  await client.subscribe('player:ann', (update) => seen.push(update));
  await new Promise((resolve) => setTimeout(resolve, 4500));
  await client.publish({ key: 'player:ann', type: 'join', data: { hunt: 'h1', name: 'Ann' } });
  await until('the update', () => seen.length === 1);
  t.ok(issued.length >= 3, `the provider was asked ${issued.length} times`);
  t.ok(issued.slice(1).every((token, i) => token.askedAt < issued[i]!.expMs), 'each time before the previous token expired (a reconnect after a 4003 would ask after)');
  t.equal((await engine.inspect()).connections, 1);
  await t.rejects(client.publish({ key: 'hunt:h1', type: 'join', data: { hunt: 'h1', name: 'Ann' } }), { code: 'FORBIDDEN' }, 'the engine\'s refusal reaches the caller');
});

t.test('SIGHUP re-reads the token file: removed tokens are revoked, the rest keep going', async (t) => {
  const dir = tempDir(t);
  const authFile = path.join(dir, 'tokens.jsonl');
  fs.writeFileSync(authFile, tokenFile([GAME_LINE, OPS_LINE]));
  const secretFile = path.join(dir, 'jwt.secret');
  fs.writeFileSync(secretFile, SECRET);
  const engine = await startEngineProcess({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_AUTH_FILE: authFile, HUNT_JWT_SECRET_FILE: secretFile, HUNT_JWT_AUDIENCE: 'hunt-test', HUNT_ROUTES: ROUTES, ...TWO_ACCEPTORS });
  t.teardown(() => engine.stop('SIGKILL'));
  const game = await connect(engine.port, GAME_TOKEN);
  const ops = await connect(engine.port, OPS_TOKEN);
  const viewer = await connect(engine.port, await jwt({ hunt: { read: ['player:'] } }));
  const reloads = () => engine.output().match(/"msg":"credentials reload/g)?.length ?? 0;

  fs.writeFileSync(authFile, tokenFile(['{"name": "broken", "token": 12}']));
  engine.child.kill('SIGHUP');
  await until('the refusal to be logged', () => /credentials reload refused: the previous tokens and keys stay/.test(engine.output()));
  t.match(engine.output(), /line 3: needs exactly one of|line 3: \\"token\\" must be a string/, 'the log names the line');
  t.match(await game.request({ op: 'pub', id: 1, events: [{ key: 'player:a', type: 'join', data: { hunt: 'h', name: 'A' } }] }), { op: 'ack' }, 'an invalid file leaves the tokens as they were');

  fs.writeFileSync(authFile, tokenFile([OPS_LINE.replace('"admin":true', '"admin":false')]));
  engine.child.kill('SIGHUP');
  await until('the reload', () => reloads() === 2 && /"msg":"credentials reloaded"/.test(engine.output()));
  t.match(await game.closed, { code: 4004, reason: /token revoked/ }, 'the removed token\'s connection is closed');
  await t.rejects(TestClient.connect(engine.port, [], bearer(GAME_TOKEN)), /401/, 'and cannot come back');
  t.match(await ops.request({ op: 'get', id: 1, key: 'player:a' }), { op: 'meta', meta: { fields: { name: 'A' } } }, 'a kept token\'s connection stays');
  t.equal((await scrapeMetrics(engine.port, bearer(OPS_TOKEN))).status, 403, 'with its new scopes');
  t.match(await viewer.request({ op: 'get', id: 1, key: 'player:a' }), { op: 'meta' }, 'a JWT connection keeps what its token granted');
  t.match(engine.output(), /"msg":"routes reloaded"/, 'the same SIGHUP re-read the routes file too');
  await Promise.all([ops.close(), viewer.close()]);
  t.equal(await engine.stop(), 0);
});

t.test('JWTs signed with a public key of HUNT_JWT_JWKS_FILE', async (t) => {
  const dir = tempDir(t);
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const other = await generateKeyPair('ES256');
  const jwksFile = path.join(dir, 'jwks.json');
  fs.writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }));
  const engine = await startEngine({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_JWT_JWKS_FILE: jwksFile, HUNT_JWT_ISSUER: 'https://id.example' });
  t.teardown(() => engine.stop());
  const signed = (key: Parameters<SignJWT['sign']>[0], issuer = 'https://id.example') =>
    new SignJWT({ hunt: { read: ['player:'] } }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(issuer).setExpirationTime(nowS() + 60).sign(key);
  const reader = await connect(engine.port, await signed(privateKey));
  t.match(await reader.request({ op: 'get', id: 1, key: 'player:x' }), { op: 'meta', meta: null });
  t.match(await reader.request({ op: 'get', id: 2, key: 'hunt:x' }), { code: 'FORBIDDEN' });
  await reader.close();
  await t.rejects(TestClient.connect(engine.port, [], bearer(await signed(other.privateKey))), /401/, 'signed by a key not in the set');
  await t.rejects(TestClient.connect(engine.port, [], bearer(await signed(privateKey, 'https://elsewhere.example'))), /401/, 'from another issuer');
  await t.rejects(TestClient.connect(engine.port, [], bearer(await jwt({ hunt: { read: ['player:'] } }))), /401/, 'HMAC-signed, with no secret configured');
});

t.test('a token file with a typo stops start-up, naming its line', async (t) => {
  const dir = tempDir(t);
  const authFile = path.join(dir, 'tokens.jsonl');
  fs.writeFileSync(authFile, tokenFile([GAME_LINE, '{"name": "viewer", "token": "viewer-token-0123456789", "raed": ["player:"]}', OPS_LINE, GAME_LINE]));
  const { status, stdout } = runEngineToExit({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_AUTH_FILE: authFile });
  t.equal(status, 2);
  t.match(stdout, /HUNT_AUTH_FILE=\\".*tokens\.jsonl\\" is invalid: line 4: has unknown field \\"raed\\"/);
  t.match(stdout, /line 6: repeats the token of line 3/);
  const secretFile = path.join(dir, 'short.secret');
  fs.writeFileSync(secretFile, 'too-short\n');
  t.match(runEngineToExit({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_JWT_SECRET_FILE: secretFile }).stdout, /HUNT_JWT_SECRET_FILE=\\".*\\" is invalid: the secret is 9 bytes; allowed is at least 32/);
  t.match(runEngineToExit({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_JWT_AUDIENCE: 'x' }).stdout, /HUNT_JWT_AUDIENCE=\\"x\\" is invalid: it applies to JWTs/);
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwksFile = path.join(dir, 'private.jwks.json');
  fs.writeFileSync(jwksFile, JSON.stringify({ keys: [await exportJWK(privateKey)] }));
  t.match(runEngineToExit({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_JWT_JWKS_FILE: jwksFile }).stdout, /holds a private key/, 'a key set with a private key is refused');
});

t.test('pub scopes on frames of another encoder (@msgpack/msgpack) and a non-ASCII prefix', async (t) => {
  const dir = tempDir(t);
  const authFile = path.join(dir, 'tokens.jsonl');
  fs.writeFileSync(authFile, tokenFile([JSON.stringify({ name: 'umlaut', token: 'umlaut-token-0123456789', pub: ['spieler:ä'], read: [''] })]));
  const engine = await startEngine({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_DURABILITY: 'async', HUNT_AUTH_FILE: authFile, ...TWO_ACCEPTORS });
  t.teardown(() => engine.stop());
  const client = await connect(engine.port, 'umlaut-token-0123456789', ['hunt.v1.msgpack']);
  t.teardown(() => client.close());
  const { encode } = await import('@msgpack/msgpack');
  const id = 7;
  const send = (events: unknown[]) => {
    const reply = client.reply(id);
    client.ws.send(encode({ op: 'pub', id, events }), { binary: true });
    return reply;
  };
  t.match(await send([{ key: 'spieler:änne', type: 'join' }, { key: 'spieler:anne', type: 'join' }]), { op: 'error', id, code: 'FORBIDDEN', index: 1, message: /pub of "spieler:anne"/ }, 'the prefix is compared as UTF-8 bytes');
  t.match(await client.request({ op: 'get', id: 1, key: 'spieler:änne' }), { op: 'meta', meta: null }, 'nothing of the refused pub applied');
  t.match(await send([{ key: 'spieler:änne', type: 'join' }, { key: 'spieler:äbel', type: 'join' }]), { op: 'ack', id });
  t.match(await client.request({ op: 'get', id: 2, key: 'spieler:änne' }), { op: 'meta', meta: { count: 1 } });
});
