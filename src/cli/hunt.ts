#!/usr/bin/env node
// `hunt`: the engine's command line. Every command talks to the engine through the client library
// (src/client) or its HTTP endpoints; errors are one line on stderr and a non-zero exit code
// (2: bad usage, 1: anything else).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { HuntClient, HuntError } from '../client/index.js';
import { ownerOf, partitionOf, storeOf } from '../shared/partition.js';
import { checkConfig } from './check-config.js';
import { AddressError, engineStreamUrl } from './engine-url.js';
import { DataDirError } from '../main/control/data-dir.js';
import { publishLines } from './pub-command.js';

class UsageError extends Error {}

const CONNECTION_OPTIONS = {
  // Default: engineStreamUrl() (HUNT_URL, or HUNT_HOST/HUNT_PORT as the engine reads them).
  url: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

interface Command {
  usage: string;
  summary: string;
  options?: ParseArgsConfig['options'];
  /** Positional arguments it takes: exactly this many. */
  positionals: number;
  run(args: string[], values: Record<string, string | boolean | undefined>): Promise<number>;
}

const connect = (values: Record<string, unknown>, extra: { producer?: string } = {}) =>
  HuntClient.connect({ url: values.url as string, reconnect: false, ...(values.token === undefined ? {} : { token: values.token as string }), ...extra });

/** The engine's HTTP base URL, from its WebSocket URL. */
const httpBase = (url: string) => new URL(url.replace(/^ws/, 'http')).origin;

async function getJson(url: string, path: string, token: unknown): Promise<any> {
  const response = await fetch(`${httpBase(url)}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${String(token)}` } });
  if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status}`);
  return response.json();
}

const COMMANDS: Record<string, Command> = {
  serve: {
    usage: 'hunt serve',
    summary: 'run the engine (same as npm start; settings from HUNT_* variables)',
    positionals: 0,
    async run() {
      await import('../main/index.js');
      return new Promise<number>(() => {}); // the engine exits the process itself
    },
  },
  'check-config': {
    usage: 'hunt check-config ROUTES_FILE',
    summary: 'validate a routes file and summarise its routes',
    positionals: 1,
    async run([file]) {
      return checkConfig(file!);
    },
  },
  data: {
    usage: 'hunt data upgrade DATA_DIR [--stores S]',
    summary: 'upgrade a data directory of an older format, offline (the engine must not be running on it)',
    options: { stores: { type: 'string' } },
    positionals: 2,
    async run([action, dir], values) {
      if (action !== 'upgrade') throw new UsageError(`unknown action ${JSON.stringify(action)} (usage: hunt data upgrade DATA_DIR [--stores S])`);
      const stores = values.stores === undefined ? undefined : positiveInteger(values.stores, '--stores');
      const { upgradeDataDir } = await import('./data-upgrade.js');
      const { layout, copied, backup } = await upgradeDataDir(dir!, stores);
      console.log(
        `upgraded ${dir} to format 3: ${layout.partitions} partitions in ${layout.stores} stores; copied ${copied.meta} records, ` +
          `${copied.partitions} partition offsets, ${copied.producers} producer marks, ${copied.log} log segments. ` +
          `The old environment is kept in ${backup}: remove it once the engine runs well on the upgraded directory.`,
      );
      return 0;
    },
  },
  get: {
    usage: 'hunt get KEY [--url URL] [--token T]',
    summary: "print a key's metadata record as JSON (exit 1 if it has none)",
    options: CONNECTION_OPTIONS,
    positionals: 1,
    async run([key], values) {
      const client = await connect(values);
      try {
        const meta = await client.get(key!);
        if (meta === null) throw new Error(`no record for key ${JSON.stringify(key)}`);
        console.log(JSON.stringify(meta, null, 2));
        return 0;
      } finally {
        client.close();
      }
    },
  },
  tail: {
    usage: 'hunt tail KEY|PREFIX [--prefix] [--url URL] [--token T]',
    summary: "print a key's updates (or every key's under a prefix) as JSON lines until interrupted",
    options: { ...CONNECTION_OPTIONS, prefix: { type: 'boolean' } },
    positionals: 1,
    async run([keyOrPrefix], values) {
      const client = await HuntClient.connect({ url: values.url as string, ...(values.token === undefined ? {} : { token: values.token as string }) });
      await client.subscribe(keyOrPrefix!, ({ key, meta }) => console.log(JSON.stringify({ key, version: meta.version, meta })), { prefix: values.prefix === true });
      return new Promise<number>((resolve) => process.once('SIGINT', () => (client.close(), resolve(0))));
    },
  },
  pub: {
    usage: 'hunt pub [--producer NAME] [--url URL] [--token T] < events.jsonl',
    summary: 'publish events read from stdin, one JSON object {key,type,ts?,data?} per line',
    options: { ...CONNECTION_OPTIONS, producer: { type: 'string' } },
    positionals: 0,
    async run(_, values) {
      const client = await HuntClient.connect({
        url: values.url as string,
        ...(values.token === undefined ? {} : { token: values.token as string }),
        ...(values.producer === undefined ? {} : { producer: values.producer as string }),
      });
      try {
        return await publishLines(client, process.stdin, process.stderr);
      } finally {
        client.close();
      }
    },
  },
  partition: {
    usage: 'hunt partition KEY [--url URL] [--token T] | hunt partition KEY --partitions P --stores S --workers W',
    summary: 'which partition, store and worker own a key (asks the engine, or computes from the counts given)',
    options: { ...CONNECTION_OPTIONS, partitions: { type: 'string' }, stores: { type: 'string' }, workers: { type: 'string' } },
    positionals: 1,
    async run([key], values) {
      let partitions: number;
      let owner: (p: number) => { store: number; worker: number };
      if (values.partitions !== undefined || values.workers !== undefined || values.stores !== undefined) {
        partitions = positiveInteger(values.partitions, '--partitions');
        const layout = { partitions, stores: positiveInteger(values.stores, '--stores') };
        const workers = positiveInteger(values.workers, '--workers');
        owner = (p) => ({ store: storeOf(p, layout.stores), worker: ownerOf(p, layout, workers) });
      } else {
        const info = (await getJson(values.url as string, '/v1/partitions', values.token)).partitions as { partition: number; store: number; worker: number }[];
        partitions = info.length;
        owner = (p) => ({ store: info[p]!.store, worker: info[p]!.worker });
      }
      const p = partitionOf(key!, partitions);
      console.log(JSON.stringify({ key, partition: p, partitions, ...owner(p) }));
      return 0;
    },
  },
  bench: {
    usage: 'hunt bench [--url URL] [--token T] [--seconds N] [--connections C] [--batch B] [--keys K] [--rate EVENTS_PER_S]',
    summary: 'drive a running engine with the load generator and print events/s and ack latency',
    options: {
      ...CONNECTION_OPTIONS,
      seconds: { type: 'string', default: '10' },
      connections: { type: 'string', default: '8' },
      batch: { type: 'string', default: '100' },
      keys: { type: 'string', default: '10000' },
      rate: { type: 'string', default: '0' },
    },
    positionals: 0,
    async run(_, values) {
      const { runLoad } = await import('../../native-bench/load-generator.js');
      const url = values.url as string;
      const result = await runLoad({
        // The load generator's sockets pass a token as browsers do, in the query.
        url: values.token === undefined ? url : `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(String(values.token))}`,
        connections: positiveInteger(values.connections, '--connections'),
        batch: positiveInteger(values.batch, '--batch'),
        keys: positiveInteger(values.keys, '--keys'),
        skew: 0,
        window: 64,
        durationMs: positiveInteger(values.seconds, '--seconds') * 1000,
        warmupMs: 1000,
        targetEventsPerSecond: Number(values.rate),
        threads: 1,
        keyPrefix: 'bench:',
        shape: 'plain',
      });
      console.log(JSON.stringify({ eventsPerSecond: Math.round(result.eventsPerSecond), latencyMs: result.latencyMs, errors: result.errors }));
      return 0;
    },
  },
};

function positiveInteger(value: unknown, name: string): number {
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(value ?? null)}`);
  return n;
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  return ['usage: hunt COMMAND [ARGS] (hunt COMMAND --help for its options)', '', ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}; commands: ${Object.keys(COMMANDS).join(', ')}`);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { help: { type: 'boolean', short: 'h' }, ...command.options }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (usage: ${command.usage})`);
  }
  if (parsed.values.help === true) {
    console.log(`usage: ${command.usage}\n\n${command.summary}`);
    return 0;
  }
  if (parsed.positionals.length !== command.positionals) throw new UsageError(`usage: ${command.usage}`);
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if ('url' in (command.options ?? {}) && values.url === undefined) {
    try {
      values.url = engineStreamUrl(process.env);
    } catch (error) {
      if (error instanceof AddressError) throw new UsageError(error.message);
      throw error;
    }
  }
  return command.run(parsed.positionals, values);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    const detail = error instanceof HuntError ? `${error.code}: ${error.message}` : error.message;
    console.error(`hunt: ${detail}`);
    // A data directory it cannot work on is like bad usage: nothing was changed.
    process.exit(error instanceof UsageError || error instanceof DataDirError ? 2 : 1);
  },
);
