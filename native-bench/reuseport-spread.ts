// How evenly the kernel spreads WebSocket connections over several uWS apps listening on one port
// (SO_REUSEPORT, which uWS sets on a fixed port), each app in its own worker thread — the way
// acceptor threads would share a port. For C connections over A apps it opens the connections from
// loopback, asks each app how many it holds, and repeats; it reports the busiest app's share
// against the even share C / A, which bounds what the busiest acceptor thread carries.
//
//   node dist/native-bench/reuseport-spread.js [--apps 2] [--connections 8,32] [--trials 20]
//
// Each app closes its listen socket and its connections before its thread ends: a worker thread
// that ends while uWS holds a socket aborts the whole process (checked on this machine).
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import uws from 'uWebSockets.js';
import WebSocket from 'ws';
import { freePort } from './engine-process.js';
import { median } from './report.js';

interface AppData {
  port: number;
}

type ToApp = 'count' | 'close';
type FromApp = { listening: boolean } | { count: number } | { closed: true };

function runApp({ port }: AppData): void {
  const sockets = new Set<uws.WebSocket<unknown>>();
  let listenSocket: uws.us_listen_socket | false = false;
  const app = uws.App().ws('/*', {
    open: (ws) => void sockets.add(ws),
    close: (ws) => void sockets.delete(ws),
  });
  app.listen('127.0.0.1', port, (token) => {
    listenSocket = token;
    parentPort!.postMessage({ listening: token !== false } satisfies FromApp);
  });
  parentPort!.on('message', (message: ToApp) => {
    if (message === 'count') parentPort!.postMessage({ count: sockets.size } satisfies FromApp);
    else {
      if (listenSocket !== false) uws.us_listen_socket_close(listenSocket);
      // Missing from this build's typings (LIBRARY-NOTES): closes every socket of the app.
      (app as unknown as { close(): void }).close();
      parentPort!.postMessage({ closed: true } satisfies FromApp);
      parentPort!.close();
    }
  });
}

function ask(worker: Worker, message: ToApp): Promise<FromApp> {
  return new Promise((resolve) => {
    worker.once('message', resolve);
    worker.postMessage(message);
  });
}

async function trial(port: number, apps: Worker[], connections: number): Promise<number[]> {
  const clients = await Promise.all(
    Array.from({ length: connections }, () => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })),
  );
  // The apps see an open a moment after the client does.
  let counts: number[] = [];
  for (let wait = 0; wait < 50; wait++) {
    counts = await Promise.all(apps.map(async (app) => ((await ask(app, 'count')) as { count: number }).count));
    if (counts.reduce((a, b) => a + b, 0) === connections) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(clients.map((ws) => new Promise((resolve) => {
    ws.once('close', resolve);
    ws.close();
  })));
  return counts;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
  };
  const appCount = Number(flag('apps', '2'));
  const connectionCounts = flag('connections', '8,32').split(',').map(Number);
  const trials = Number(flag('trials', '20'));
  const port = await freePort();
  const apps = Array.from({ length: appCount }, () => new Worker(fileURLToPath(import.meta.url), { workerData: { port } satisfies AppData }));
  const listening = await Promise.all(apps.map((app) => new Promise<FromApp>((resolve) => app.once('message', resolve))));
  if (!listening.every((m) => 'listening' in m && m.listening)) throw new Error(`not every app could listen on port ${port}`);
  console.log(`# ${appCount} uWS apps in worker threads on one port (SO_REUSEPORT), connections from loopback, ${trials} trials each`);
  console.log('| connections | even share | busiest app: median | worst | median busiest ÷ even |');
  console.log('|---:|---:|---:|---:|---:|');
  for (const connections of connectionCounts) {
    const busiest: number[] = [];
    for (let t = 0; t < trials; t++) busiest.push(Math.max(...(await trial(port, apps, connections))));
    busiest.sort((a, b) => a - b);
    const even = connections / appCount;
    console.log(`| ${connections} | ${even} | ${median(busiest)} | ${busiest.at(-1)} | ${(median(busiest) / even).toFixed(2)} |`);
  }
  await Promise.all(apps.map((app) => ask(app, 'close')));
  await Promise.all(apps.map((app) => new Promise((resolve) => app.once('exit', resolve))));
}

if (isMainThread) await main();
else runApp(workerData as AppData);
