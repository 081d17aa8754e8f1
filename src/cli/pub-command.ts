// `hunt pub`: events from a stream of JSON lines, published through the client (which batches
// them), with a progress bar on a terminal and a summary at the end. Reading pauses while too many
// events wait for their acks, so a large file does not pile up in memory.
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { HuntError, type ClientEvent, type HuntClient } from '../client/index.js';

const MAX_UNSETTLED = 100_000;
const PROGRESS_INTERVAL_MS = 100;
const BAR_WIDTH = 30;
/** Failures printed one by one at most; the rest are only counted. */
const MAX_REPORTED_FAILURES = 10;

interface Tally {
  read: number;
  acked: number;
  dups: number;
  failed: Map<string, number>;
}

/** Publishes every line of `input`; returns the exit code (1 if any event failed). */
export async function publishLines(client: HuntClient, input: Readable, output: Writable & { isTTY?: boolean }): Promise<number> {
  const tally: Tally = { read: 0, acked: 0, dups: 0, failed: new Map() };
  const started = Date.now();
  let reported = 0;
  const fail = (line: number, code: string, message: string) => {
    tally.failed.set(code, (tally.failed.get(code) ?? 0) + 1);
    if (reported++ < MAX_REPORTED_FAILURES) output.write(`${output.isTTY ? '\r\x1b[K' : ''}line ${line}: ${code}: ${message}\n`);
  };
  const settled = () => tally.acked + [...tally.failed.values()].reduce((a, b) => a + b, 0);
  const progress = output.isTTY ? setInterval(() => output.write(`\r${bar(tally, settled(), started)}`), PROGRESS_INTERVAL_MS) : null;

  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  const pending: Promise<void>[] = [];
  let lineNo = 0;
  for await (const text of lines) {
    lineNo++;
    if (text.trim() === '') continue;
    tally.read++;
    const line = lineNo;
    let event: ClientEvent;
    try {
      event = JSON.parse(text) as ClientEvent;
    } catch (error) {
      fail(line, 'NOT_JSON', (error as Error).message);
      continue;
    }
    pending.push(
      client.publish(event).then(
        (result) => {
          tally.acked++;
          if (result.dup) tally.dups++;
        },
        (error: Error) => fail(line, error instanceof HuntError ? error.code : 'ERROR', error.message),
      ),
    );
    if (tally.read - settled() > MAX_UNSETTLED) {
      await Promise.all(pending);
      pending.length = 0;
    }
  }
  await Promise.all(pending);
  if (progress !== null) {
    clearInterval(progress);
    output.write(`\r${bar(tally, settled(), started)}\n`);
  }
  const seconds = (Date.now() - started) / 1000;
  const failed = [...tally.failed].map(([code, n]) => `${n} ${code}`).join(', ');
  output.write(
    `${tally.read} events read: ${tally.acked} acknowledged${tally.dups > 0 ? ` (${tally.dups} as duplicates)` : ''}, ${failed === '' ? 'none failed' : `failed: ${failed}`}; ` +
      `${seconds.toFixed(1)} s, ${Math.round(tally.acked / Math.max(seconds, 0.001))} events/s\n`,
  );
  return tally.failed.size === 0 ? 0 : 1;
}

function bar(tally: Tally, settled: number, started: number): string {
  const done = tally.read === 0 ? 0 : settled / tally.read;
  const filled = Math.round(done * BAR_WIDTH);
  const rate = Math.round(tally.acked / Math.max((Date.now() - started) / 1000, 0.001));
  return `[${'='.repeat(filled)}${' '.repeat(BAR_WIDTH - filled)}] ${tally.acked} acked / ${tally.read} read, ${settled - tally.acked} failed, ${rate} events/s`;
}
