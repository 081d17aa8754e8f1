// pino JSON logs on stdout. The front end writes asynchronously (it never logs per event); partition
// workers write synchronously, because a worker's async destination is not flushed when it exits.
import fs from 'node:fs';
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}, sync = false): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, pino.destination({ dest: 1, sync }));
}

/**
 * The calling thread's id as the kernel knows it (`top -H`, /proc/<pid>/task/<tid>), which Node does
 * not expose: thread loggers carry it so that an operator, or the scaling bench, can tell which OS
 * thread is which acceptor or worker. Null off Linux.
 */
export function osThreadId(): number | null {
  try {
    return Number(fs.readlinkSync('/proc/thread-self').split('/').at(-1));
  } catch {
    return null;
  }
}
