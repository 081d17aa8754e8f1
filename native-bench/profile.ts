// Where the engine's time goes: the engine process runs under V8's CPU profiler (`--cpu-prof`, one
// profile per thread) with the bench's load for a few seconds, and each thread's profile is
// summarised as its top functions by self time. The bench report includes it when a target is
// missed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ENGINE_ENTRY, startServerProcess } from './engine-process.js';
import { runLoad, standardLoad, type LoadOptions } from './load-generator.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ThreadProfile {
  /** The engine's main thread or a worker thread (V8 numbers them in start order). */
  thread: string;
  totalMs: number;
  top: { fn: string; share: number }[];
}

/** Top functions by self time of one profile. */
function summarise(profile: CpuProfile, top: number): { totalMs: number; top: { fn: string; share: number }[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const frame = byId.get(id)!.callFrame;
    const name = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`;
    self.set(name, (self.get(name) ?? 0) + dt);
  });
  const sorted = [...self].sort((a, b) => b[1] - a[1]).slice(0, top);
  return { totalMs: total / 1000, top: sorted.map(([fn, us]) => ({ fn, share: us / total })) };
}

/** Profiles the engine started with `env` under the bench's standard load of `shape` events. */
export async function profileEngine(env: Record<string, string>, shape: LoadOptions['shape'], seconds: number, top = 8): Promise<ThreadProfile[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-profile-'));
  try {
    const engine = await startServerProcess(['--cpu-prof', `--cpu-prof-dir=${path.join(dir, 'profiles')}`, ENGINE_ENTRY], { HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_LOG_LEVEL: 'info', ...env });
    await runLoad({ ...standardLoad(engine.port, seconds, 1), shape });
    await engine.stop();
    // Profile files are named CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main one.
    return fs
      .readdirSync(path.join(dir, 'profiles'))
      .sort()
      .map((file) => {
        const thread = Number(file.split('.')[4]);
        const summary = summarise(JSON.parse(fs.readFileSync(path.join(dir, 'profiles', file), 'utf8')) as CpuProfile, top);
        return { thread: thread === 0 ? 'main thread' : `worker thread ${thread}`, ...summary };
      })
      .filter((p) => p.totalMs > 100);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function profileLines(profiles: ThreadProfile[]): string[] {
  const lines: string[] = [];
  for (const p of profiles) {
    lines.push('', `${p.thread} (${Math.round(p.totalMs)} ms sampled):`, '', '| self time | function |', '|---:|---|');
    for (const { fn, share } of p.top) lines.push(`| ${(share * 100).toFixed(1)}% | \`${fn}\` |`);
  }
  return lines;
}
