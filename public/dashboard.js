// The live dashboard (served at GET /, no build step): polls GET /v1/stats once a second, draws
// rates and ack latency with uPlot, and looks up a key (GET /v1/keys/:key), then follows its
// updates over a WebSocket subscription. A token given as ?token=… in the page's URL is passed on.
'use strict';

const token = new URLSearchParams(location.search).get('token');
const headers = token ? { authorization: `Bearer ${token}` } : {};
const HISTORY = 300;
const $ = (id) => document.getElementById(id);
const format = (n, digits = 0) => (n === null || n === undefined ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits }));

const series = { t: [], in: [], acked: [], p50: [], p99: [] };
const chart = (element, labels, colors) =>
  new uPlot(
    { width: element.clientWidth || 560, height: 220, series: [{}, ...labels.map((label, i) => ({ label, stroke: colors[i], width: 2 }))], axes: [{}, { size: 70 }] },
    [[], ...labels.map(() => [])],
    element,
  );
const rateChart = chart($('rate-chart'), ['in', 'acked'], ['#1f77b4', '#2ca02c']);
const latencyChart = chart($('latency-chart'), ['p50', 'p99'], ['#9467bd', '#d62728']);

let previous = null;

async function poll() {
  try {
    const response = await fetch('/v1/stats', { headers });
    if (!response.ok) throw new Error(`GET /v1/stats: HTTP ${response.status}${response.status === 404 ? ' (metrics are off)' : ''}`);
    const stats = await response.json();
    const now = Date.now() / 1000;
    if (previous !== null) {
      const seconds = now - previous.time;
      const rateIn = (stats.eventsReceived - previous.eventsReceived) / seconds;
      const rateAcked = (stats.eventsAcked - previous.eventsAcked) / seconds;
      push(now, rateIn, rateAcked, stats.ackLatencyMs.p50, stats.ackLatencyMs.p99);
      $('events-in').textContent = format(rateIn);
      $('events-acked').textContent = format(rateAcked);
    }
    previous = { time: now, eventsReceived: stats.eventsReceived, eventsAcked: stats.eventsAcked };
    $('ack-p50').textContent = format(stats.ackLatencyMs.p50, 1);
    $('ack-p99').textContent = format(stats.ackLatencyMs.p99, 1);
    $('connections').textContent = format(stats.connections);
    $('in-flight').textContent = format(stats.pubsInFlight);
    fillTable('workers', stats.workers.map((w) => [w.worker, format(w.ringBytes), format(w.backlogBytes), format(w.pendingRecords)]));
    fillTable('errors', Object.entries(stats.errors).map(([code, n]) => [code, format(n)]));
    $('config').textContent = JSON.stringify(stats.config, null, 2);
    $('status').textContent = `${stats.config.durability}, ${stats.partitions} partitions, ${stats.config.workers} worker(s); updated ${new Date().toLocaleTimeString()}`;
    $('status').className = '';
  } catch (error) {
    $('status').textContent = error.message;
    $('status').className = 'error';
  }
}

function push(t, rateIn, rateAcked, p50, p99) {
  for (const [name, value] of [['t', t], ['in', rateIn], ['acked', rateAcked], ['p50', p50], ['p99', p99]]) {
    series[name].push(value);
    if (series[name].length > HISTORY) series[name].shift();
  }
  rateChart.setData([series.t, series.in, series.acked]);
  latencyChart.setData([series.t, series.p50, series.p99]);
}

function fillTable(id, rows) {
  const body = $(id).querySelector('tbody');
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement('tr');
      for (const cell of cells) {
        const td = document.createElement('td');
        td.textContent = String(cell);
        tr.append(td);
      }
      return tr;
    }),
  );
}

let follow = null;

$('lookup').addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = $('key').value;
  if (key === '') return;
  follow?.close();
  // In cluster mode another host may apply the key: its redirect is not followed (another origin),
  // the subscription below finds that host and brings the record.
  const response = await fetch(`/v1/keys/${encodeURIComponent(key)}`, { headers, redirect: 'manual' });
  $('key-meta').textContent = response.ok ? JSON.stringify(await response.json(), null, 2) : response.type === 'opaqueredirect' ? `${key}: applied by another host, asking it` : `${key}: HTTP ${response.status}`;
  followKey(key, location.origin);
});

/** Follows a key at the host at `base`: the sub's snapshot and every later change replace what is shown; it moves with the key's partition. */
function followKey(key, base) {
  const url = new URL(`/v1/stream${token ? `?token=${encodeURIComponent(token)}` : ''}`, base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url, ['hunt.v1.json']);
  follow = ws;
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.op === 'welcome') ws.send(JSON.stringify({ op: 'sub', id: 1, keys: [key] }));
    else if (data.op === 'update' && data.key === key) $('key-meta').textContent = JSON.stringify({ key, ...data.meta }, null, 2);
    else if ((data.op === 'error' && data.code === 'NOT_OWNER') || (data.op === 'moved' && data.keys.includes(key))) {
      ws.close();
      // No owner named: a rebalance; ask this host again shortly.
      if (follow === ws) setTimeout(() => follow === ws && followKey(key, data.owner ?? base), data.owner === undefined ? 1000 : 0);
    }
  };
}

poll();
setInterval(poll, 1000);
