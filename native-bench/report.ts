// The bench's report: the figures table, the ratios the targets are stated in (all from the same
// run), and an SVG chart of throughput and p99 per system. Pure functions of the results.
import type { Ceiling } from './ceilings.js';

/** The median of `values` (the mean of the middle two for an even count): every figure of the bench is one. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface ScenarioFigures {
  eventsPerSecond: number;
  p50: number;
  p99: number;
  p999: number;
  cpuUsPerEvent: number;
  peakRssMiB: number;
  errors: number;
  /** Publish → subscriber update latency, ms (scenarios with subscribers; NaN otherwise). */
  deliveryP50: number;
  deliveryP99: number;
  /** Each repetition's own figures, in round order: repetition r of every scenario ran in round r. */
  runs?: Pick<ScenarioFigures, 'eventsPerSecond' | 'cpuUsPerEvent'>[];
}

export interface Ratio {
  median: number;
  min: number;
  max: number;
}

/**
 * a's figure over b's: the median, and the range, of the ratios of runs of the same round (the
 * scenarios run round-robin, so a pair shares the machine's phase); the ratio of the medians when
 * the runs are not known.
 */
export function pairedRatio(a: ScenarioFigures, b: ScenarioFigures, pick: (f: Pick<ScenarioFigures, 'eventsPerSecond' | 'cpuUsPerEvent'>) => number): Ratio {
  if (a.runs === undefined || b.runs === undefined || a.runs.length !== b.runs.length || a.runs.length === 0) {
    const ratio = pick(a) / pick(b);
    return { median: ratio, min: ratio, max: ratio };
  }
  const ratios = a.runs.map((run, i) => pick(run) / pick(b.runs![i]!));
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
}

const ratioText = (ratio: Ratio) => (ratio.min === ratio.max ? `${fmt(ratio.median, 2)}×` : `${fmt(ratio.median, 2)}× (${fmt(ratio.min, 2)}–${fmt(ratio.max, 2)})`);
const perSecond = (f: Pick<ScenarioFigures, 'eventsPerSecond'>) => f.eventsPerSecond;
/** Inverted, so that above 1 means the first scenario spends less CPU per event. */
const cpuThrift = (f: Pick<ScenarioFigures, 'cpuUsPerEvent'>) => 1 / f.cpuUsPerEvent;

export interface Target {
  what: string;
  engine: string;
  peer: string;
  /** engine ÷ peer must be at least this. */
  atLeast: number;
}

/** The targets of native-bench (issue 6, the core issue and the routes issue), as ratios between two scenarios. */
export const TARGETS: Target[] = [
  { what: 'engine sync ≥ 3× the naive ws + lmdb server', engine: 'engine, sync', peer: 'naive ws+lmdb, sync', atLeast: 3 },
  { what: 'engine sync ≥ 2× ws + Redis (appendfsync always)', engine: 'engine, sync', peer: 'ws + Redis, AOF always', atLeast: 2 },
  { what: 'engine async ≥ 1.5× ws + Redis (appendfsync everysec)', engine: 'engine, async', peer: 'ws + Redis, AOF everysec', atLeast: 1.5 },
  { what: 'engine async ≥ 50% of the bare uWS read-id-and-ack ceiling', engine: 'engine, async', peer: 'uWS read-id+ack ceiling', atLeast: 0.5 },
  { what: 'engine sync ≥ 5× the RabbitMQ pipeline', engine: 'engine, sync', peer: 'ws + RabbitMQ + consumer', atLeast: 5 },
  {
    what: 'treasure-hunt routes (with fan-out) ≥ 70% of the default merge',
    engine: 'engine, async, hunt events, treasure-hunt routes',
    peer: 'engine, async, hunt events, default merge',
    atLeast: 0.7,
  },
];

/** The targets missed in this run (measured and below their ratio). */
export function missedTargets(results: Record<string, ScenarioFigures>): Target[] {
  return TARGETS.filter((t) => results[t.engine] !== undefined && results[t.peer] !== undefined && pairedRatio(results[t.engine]!, results[t.peer]!, perSecond).median < t.atLeast);
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function figuresTable(results: Record<string, ScenarioFigures>, baseline: string): string[] {
  const base = results[baseline]!;
  const lines = [
    `Ratios are medians over the rounds (each round runs every scenario once, in turn), with their range in brackets; latencies are percentiles of all rounds' latencies together; errors are summed.`,
    '',
    `| scenario | events/s acked | ÷ ${baseline} | p50 ms | p99 ms | p99.9 ms | server CPU µs/event | CPU per event: ${baseline} ÷ this | peak RSS MiB | errors |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  for (const [name, f] of Object.entries(results)) {
    lines.push(
      `| ${name} | ${fmt(f.eventsPerSecond)} | ${ratioText(pairedRatio(f, base, perSecond))} | ${fmt(f.p50, 1)} | ${fmt(f.p99, 1)} | ${fmt(f.p999, 1)} | ${fmt(f.cpuUsPerEvent, 2)} | ${ratioText(pairedRatio(f, base, cpuThrift))} | ${fmt(f.peakRssMiB)} | ${f.errors} |`,
    );
  }
  return lines;
}

/** Each target: met, missed (by how much), or not measured (and why). */
export function targetLines(results: Record<string, ScenarioFigures>, skipped: Record<string, string>): string[] {
  // The targets are stated in events/s; the CPU ratio beside each says how much of it is the
  // engine doing less work per event rather than using the cores the peer leaves idle.
  const lines = ['| target | engine ÷ peer, events/s | CPU per event, peer ÷ engine | verdict |', '|---|---:|---:|---|'];
  const sameLoad = Object.entries(results).filter(([name]) => name.startsWith('at '));
  const engineAtLoad = sameLoad.find(([name]) => name.includes(': engine'));
  if (engineAtLoad !== undefined && sameLoad.length > 1) {
    const peers = sameLoad.filter(([name]) => name !== engineAtLoad[0]);
    const worst = peers.filter(([, f]) => f.p99 <= engineAtLoad[1].p99).map(([name]) => name);
    lines.push(
      `| engine p99 below every peer's at the same offered load | ${fmt(engineAtLoad[1].p99, 1)} ms vs ${peers.map(([name, f]) => `${name.split(': ')[1]} ${fmt(f.p99, 1)}`).join(', ')} ms | – | ${worst.length === 0 ? 'met' : `missed: not below ${worst.join(', ')}`} |`,
    );
  }
  for (const target of TARGETS) {
    const engine = results[target.engine];
    const peer = results[target.peer];
    if (engine === undefined || peer === undefined) {
      const why = skipped[target.peer] ?? skipped[target.engine] ?? (engine === undefined ? `${target.engine} not run` : `${target.peer} not run (not built yet, or left out by --only)`);
      lines.push(`| ${target.what} | – | – | not measured: ${why} |`);
      continue;
    }
    const ratio = pairedRatio(engine, peer, perSecond);
    const verdict = ratio.median >= target.atLeast ? 'met' : `missed by ${fmt((1 - ratio.median / target.atLeast) * 100, 0)}%`;
    lines.push(`| ${target.what} | ${ratioText(ratio)} | ${ratioText(pairedRatio(engine, peer, cpuThrift))} | ${verdict} |`);
  }
  return lines;
}

/** The parts' ceilings, each with the engine's async events/s as a share of it. */
export function ceilingLines(ceilings: Ceiling[], results: Record<string, ScenarioFigures>): string[] {
  const engine = results['engine, async'];
  const lines = ['| part | ceiling | how | engine async events/s ÷ this rate |', '|---|---:|---|---:|'];
  for (const c of ceilings) {
    lines.push(`| ${c.name} | ${fmt(c.perSecond)} ${c.unit} | ${c.how} | ${engine === undefined ? '–' : `${fmt(engine.eventsPerSecond / c.perSecond, 2)}×`} |`);
  }
  return lines;
}

const escape = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** Two horizontal bar panels, events/s acked and p99 ms, one row per scenario. */
export function chartSvg(results: Record<string, ScenarioFigures>, title: string): string {
  const rows = Object.entries(results);
  const rowHeight = 22;
  const labelWidth = 330;
  const panelWidth = 300;
  const top = 50;
  const height = top + rows.length * rowHeight + 20;
  const width = labelWidth + 2 * panelWidth + 80;
  const maxRate = Math.max(...rows.map(([, f]) => f.eventsPerSecond));
  const maxP99 = Math.max(...rows.map(([, f]) => f.p99));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<text x="${labelWidth}" y="${top - 8}">events/s acked (max ${fmt(maxRate)})</text>`,
    `<text x="${labelWidth + panelWidth + 40}" y="${top - 8}">p99 ack latency, ms (max ${fmt(maxP99, 1)})</text>`,
  ];
  rows.forEach(([name, f], i) => {
    const y = top + i * rowHeight;
    const engine = name.startsWith('engine');
    const rateWidth = (f.eventsPerSecond / maxRate) * panelWidth;
    const p99Width = (f.p99 / maxP99) * panelWidth;
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 14}" text-anchor="end">${escape(name)}</text>`,
      `<rect x="${labelWidth}" y="${y + 3}" width="${rateWidth.toFixed(1)}" height="${rowHeight - 6}" fill="${engine ? '#1f77b4' : '#aaa'}"/>`,
      `<text x="${labelWidth + rateWidth + 4}" y="${y + 14}" font-size="10">${fmt(f.eventsPerSecond)}</text>`,
      `<rect x="${labelWidth + panelWidth + 40}" y="${y + 3}" width="${p99Width.toFixed(1)}" height="${rowHeight - 6}" fill="${engine ? '#d62728' : '#ccc'}"/>`,
      `<text x="${labelWidth + panelWidth + 44 + p99Width}" y="${y + 14}" font-size="10">${fmt(f.p99, 1)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** events/s against HUNT_WORKERS, one line per partition count (the scaling run). */
/** Events/s over workers, one line per series. */
export function scalingSvg(rows: { workers: number; series: string; eventsPerSecond: number }[], title: string): string {
  const width = 560;
  const height = 320;
  const left = 80;
  const bottom = 40;
  const top = 40;
  const right = 150;
  const maxWorkers = Math.max(...rows.map((r) => r.workers));
  const maxRate = Math.max(...rows.map((r) => r.eventsPerSecond)) * 1.1;
  const x = (workers: number) => left + (maxWorkers === 1 ? 0.5 : (workers - 1) / (maxWorkers - 1)) * (width - left - right);
  const y = (rate: number) => height - bottom - (rate / maxRate) * (height - bottom - top);
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f'];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="#999"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}" stroke="#999"/>`,
    `<text x="${(left + width - right) / 2}" y="${height - 8}" text-anchor="middle">HUNT_WORKERS</text>`,
    `<text x="${left - 8}" y="${top + 4}" text-anchor="end">${fmt(maxRate / 1.1)}</text>`,
    `<text x="${left - 8}" y="${height - bottom}" text-anchor="end">0</text>`,
  ];
  for (const workers of [...new Set(rows.map((r) => r.workers))]) parts.push(`<text x="${x(workers)}" y="${height - bottom + 16}" text-anchor="middle">${workers}</text>`);
  [...new Set(rows.map((r) => r.series))].forEach((series, i) => {
    const line = rows.filter((r) => r.series === series).sort((a, b) => a.workers - b.workers);
    const color = colors[i % colors.length]!;
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${line.map((r) => `${x(r.workers).toFixed(1)},${y(r.eventsPerSecond).toFixed(1)}`).join(' ')}"/>`);
    for (const r of line) parts.push(`<circle cx="${x(r.workers).toFixed(1)}" cy="${y(r.eventsPerSecond).toFixed(1)}" r="3" fill="${color}"/>`);
    parts.push(`<text x="${width - right + 10}" y="${top + 16 * i}" fill="${color}">${escape(series)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
