// pino JSON logs on stdout. The front end writes asynchronously (it never logs per event); partition
// workers write synchronously, because a worker's async destination is not flushed when it exits.
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}, sync = false): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, pino.destination({ dest: 1, sync }));
}
