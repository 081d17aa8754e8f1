// Where the CLI finds the engine when no --url is given: HUNT_URL, else the address the engine
// itself would listen on with the same environment (HUNT_HOST, HUNT_PORT, and wss:// with
// HUNT_TLS_CERT), so `HUNT_PORT=9411 hunt get k` reaches an engine started with HUNT_PORT=9411.

/** A bad variable, named with its value and what is allowed (the CLI's usage error). */
export class AddressError extends Error {}

/** Listen-on-everything addresses, dialled on loopback instead. */
const WILDCARDS: Record<string, string> = { '0.0.0.0': '127.0.0.1', '::': '::1', '[::]': '::1' };

export function engineStreamUrl(env: NodeJS.ProcessEnv): string {
  const url = env.HUNT_URL;
  if (url !== undefined && url !== '') {
    if (!/^wss?:\/\/[^/]+/.test(url)) throw new AddressError(`HUNT_URL=${JSON.stringify(url)}: must be a ws:// or wss:// URL, e.g. ws://127.0.0.1:9001/v1/stream`);
    return url;
  }
  const rawHost = env.HUNT_HOST || '127.0.0.1';
  const host = WILDCARDS[rawHost] ?? rawHost;
  const port = env.HUNT_PORT || '9001';
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new AddressError(`HUNT_PORT=${JSON.stringify(port)}: must be an integer from 1 to 65535 to reach an engine (0 picks a port at start-up; give --url)`);
  }
  const scheme = env.HUNT_TLS_CERT ? 'wss' : 'ws';
  return `${scheme}://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}/v1/stream`;
}
