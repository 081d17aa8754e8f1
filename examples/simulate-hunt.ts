// `npm run simulate-hunt -- [ws://127.0.0.1:9001] [players]`: streams a simulated treasure hunt to
// a running engine started with HUNT_ROUTES=examples/treasure-hunt.routes.json, as an idempotent
// producer, then prints the records the routes maintained: players, the hunt, clues and zones.
import http from 'node:http';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { seededRandom } from '../native-bench/random.js';

const url = process.argv[2] ?? 'ws://127.0.0.1:9001';
const players = Number(process.argv[3] ?? 6);
const hunt = `h${Date.now().toString(36)}`;
const CLUES = 8;
const ZONES = ['north', 'south', 'east', 'west'];
const packr = new Packr({ useRecords: false });
const random = seededRandom(42);

type Event = { key: string; type: string; data: Record<string, unknown> };

/** The hunt as a list of pubs: everyone joins, clues are found in random order, some finish. */
function script(): Event[][] {
  const pubs: Event[][] = [];
  pubs.push(Array.from({ length: players }, (_, p) => ({ key: `player:${hunt}:${p}`, type: 'join', data: { hunt, name: `Player ${p}` } })));
  for (let round = 0; round < 20; round++) {
    const finds: Event[] = [];
    for (let p = 0; p < players; p++) {
      if (random() < 0.5) continue;
      const clue = Math.floor(random() * CLUES);
      finds.push({ key: `player:${hunt}:${p}`, type: 'clue.found', data: { hunt, clue: `c${clue}`, points: 1 + clue, zone: ZONES[clue % ZONES.length]! } });
    }
    finds.push({ key: `player:${hunt}:0`, type: 'debug.tick', data: { round } });
    pubs.push(finds);
  }
  pubs.push(Array.from({ length: Math.ceil(players / 2) }, (_, p) => ({ key: `player:${hunt}:${p}`, type: 'finish', data: { hunt } })));
  return pubs;
}

function get(key: string): Promise<unknown> {
  const base = new URL(url.replace(/^ws/, 'http'));
  return new Promise((resolve, reject) => {
    http.get({ host: base.hostname, port: base.port, path: `/v1/keys/${encodeURIComponent(key)}`, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(res.statusCode === 200 ? JSON.parse(body) : null));
    }).on('error', reject);
  });
}

async function main(): Promise<void> {
  const pubs = script();
  const ws = new WebSocket(`${url}/v1/stream`, ['hunt.v1.msgpack']);
  await new Promise<void>((resolve, reject) => {
    let next = 0;
    ws.on('error', reject);
    ws.on('message', (data: Buffer) => {
      const message = packr.unpack(data) as { op: string; id?: number; code?: string; message?: string };
      if (message.op === 'welcome') return ws.send(packr.pack({ op: 'hello', id: 0, producer: `simulator-${hunt}` }));
      if (message.op === 'error') return reject(new Error(`${message.code}: ${message.message}`));
      if (next === pubs.length) return resolve();
      // One pub in flight at a time keeps the story in order; seq makes re-runs safe.
      ws.send(packr.pack({ op: 'pub', id: next + 1, seq: next + 1, events: pubs[next] }));
      next++;
    });
  });
  ws.close();
  console.log(`hunt ${hunt}: ${pubs.reduce((n, p) => n + p.length, 0)} events in ${pubs.length} pubs\n`);
  console.log(`hunt:${hunt}`, JSON.stringify((await get(`hunt:${hunt}`) as { fields: unknown }).fields));
  for (let p = 0; p < Math.min(players, 3); p++) console.log(`player:${hunt}:${p}`, JSON.stringify((await get(`player:${hunt}:${p}`) as { fields: unknown })?.fields));
  for (let c = 0; c < 3; c++) console.log(`clue:${hunt}:c${c}`, JSON.stringify((await get(`clue:${hunt}:c${c}`) as { fields: unknown } | null)?.fields ?? null));
  for (const zone of ZONES) console.log(`zone:${hunt}:${zone}`, JSON.stringify((await get(`zone:${hunt}:${zone}`) as { fields: unknown } | null)?.fields ?? null));
}

main().catch((error: Error) => {
  console.error(`simulate-hunt: ${error.message}`);
  process.exit(1);
});
