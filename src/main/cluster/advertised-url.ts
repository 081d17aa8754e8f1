// Cluster mode: the URL other hosts send this host's clients to (HUNT_ADVERTISED_URL, or one made
// of where it listens: a wildcard address is no address to send anyone to, so the machine's name).
import os from 'node:os';
import type { EngineConfig } from '../../shared/config.js';

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

export function advertisedUrl(config: EngineConfig, port: number): string {
  if (config.kafka?.advertisedUrl !== undefined) return config.kafka.advertisedUrl;
  const host = WILDCARDS.has(config.host) ? os.hostname() : config.host;
  const scheme = config.tlsCert === undefined ? 'http' : 'https';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
