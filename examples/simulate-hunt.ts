// `npm run simulate-hunt -- [ws://127.0.0.1:9001] [players]`: streams a simulated treasure hunt to
// a running engine started with HUNT_ROUTES=examples/treasure-hunt.routes.json, as an idempotent
// producer, then prints the records the routes maintained: players, the hunt, clues and zones.
import { HuntClient } from '../src/client/index.js';
import { seededRandom } from '../native-bench/random.js';

const url = process.argv[2] ?? 'ws://127.0.0.1:9001';
const players = Number(process.argv[3] ?? 6);
const hunt = `h${Date.now().toString(36)}`;
const CLUES = 8;
const ZONES = ['north', 'south', 'east', 'west'];
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

async function main(): Promise<void> {
  const pubs = script();
  const client = await HuntClient.connect({ url: `${url}/v1/stream`, producer: `simulator-${hunt}` });
  try {
    // One pub at a time keeps the story in order; the producer name makes re-sends safe.
    for (const events of pubs) await client.publish(events);
    console.log(`hunt ${hunt}: ${pubs.reduce((n, p) => n + p.length, 0)} events in ${pubs.length} pubs\n`);
    const show = async (key: string) => console.log(key, JSON.stringify((await client.get(key))?.fields ?? null));
    await show(`hunt:${hunt}`);
    for (let p = 0; p < Math.min(players, 3); p++) await show(`player:${hunt}:${p}`);
    for (let c = 0; c < 3; c++) await show(`clue:${hunt}:c${c}`);
    for (const zone of ZONES) await show(`zone:${hunt}:${zone}`);
  } finally {
    client.close();
  }
}

main().catch((error: Error) => {
  console.error(`simulate-hunt: ${error.message}`);
  process.exit(1);
});
