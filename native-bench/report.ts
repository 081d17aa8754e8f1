// The bench's report: the figures table, the ratios the targets are stated in (all from the same
// run), and an SVG chart of throughput and p99 per system. Pure functions of the results.
import type { Ceiling } from './ceilings.js';

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
}

interface Target {
  what: string;
  engine: string;
  peer: string;
  /** engine ÷ peer must be at least this. */
  atLeast: number;
}

/** The targets of native-bench (issue 6 and the core issue), as ratios between two scenarios. */
export const TARGETS: Target[] = [
  { what: 'engine sync ≥ 3× the naive ws + lmdb server', engine: 'engine, sync', peer: 'naive ws+lmdb, sync', atLeast: 3 },
  { what: 'engine sync ≥ 2× ws + Redis (appendfsync always)', engine: 'engine, sync', peer: 'ws + Redis, AOF always', atLeast: 2 },
  { what: 'engine async ≥ 1.5× ws + Redis (appendfsync everysec)', engine: 'engine, async', peer: 'ws + Redis, AOF everysec', atLeast: 1.5 },
  { what: 'engine async ≥ 50% of the bare uWS count+ack ceiling', engine: 'engine, async', peer: 'uWS count+ack ceiling', atLeast: 0.5 },
  { what: 'engine sync ≥ 5× the RabbitMQ pipeline', engine: 'engine, sync', peer: 'ws + RabbitMQ + consumer', atLeast: 5 },
];

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function figuresTable(results: Record<string, ScenarioFigures>, baseline: string): string[] {
  const base = results[baseline]!;
  const lines = [
    `| scenario | events/s acked | ÷ ${baseline} | p50 ms | p99 ms | p99.9 ms | server CPU µs/event | peak RSS MiB | errors |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  for (const [name, f] of Object.entries(results)) {
    lines.push(
      `| ${name} | ${fmt(f.eventsPerSecond)} | ${fmt(f.eventsPerSecond / base.eventsPerSecond, 2)}× | ${fmt(f.p50, 1)} | ${fmt(f.p99, 1)} | ${fmt(f.p999, 1)} | ${fmt(f.cpuUsPerEvent, 2)} | ${fmt(f.peakRssMiB)} | ${f.errors} |`,
    );
  }
  return lines;
}

/** Each target: met, missed (by how much), or not measured (and why). */
export function targetLines(results: Record<string, ScenarioFigures>, skipped: Record<string, string>): string[] {
  const lines = ['| target | engine ÷ peer | verdict |', '|---|---:|---|'];
  const sameLoad = Object.entries(results).filter(([name]) => name.startsWith('at '));
  const engineAtLoad = sameLoad.find(([name]) => name.includes(': engine'));
  if (engineAtLoad !== undefined && sameLoad.length > 1) {
    const peers = sameLoad.filter(([name]) => name !== engineAtLoad[0]);
    const worst = peers.filter(([, f]) => f.p99 <= engineAtLoad[1].p99).map(([name]) => name);
    lines.push(
      `| engine p99 below every peer's at the same offered load | ${fmt(engineAtLoad[1].p99, 1)} ms vs ${peers.map(([name, f]) => `${name.split(': ')[1]} ${fmt(f.p99, 1)}`).join(', ')} ms | ${worst.length === 0 ? 'met' : `missed: not below ${worst.join(', ')}`} |`,
    );
  }
  for (const target of TARGETS) {
    const engine = results[target.engine];
    const peer = results[target.peer];
    if (engine === undefined || peer === undefined) {
      const why = skipped[target.peer] ?? skipped[target.engine] ?? (engine === undefined ? `${target.engine} not run` : `${target.peer} not run (not built yet, or left out by --only)`);
      lines.push(`| ${target.what} | – | not measured: ${why} |`);
      continue;
    }
    const ratio = engine.eventsPerSecond / peer.eventsPerSecond;
    const verdict = ratio >= target.atLeast ? 'met' : `missed by ${fmt((1 - ratio / target.atLeast) * 100, 0)}%`;
    lines.push(`| ${target.what} | ${fmt(ratio, 2)}× | ${verdict} |`);
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
