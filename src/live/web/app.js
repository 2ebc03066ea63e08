// The live page: plain ES module, no build step. Arrow and uPlot come from the daemon's /assets.
/* global Arrow, uPlot */
const params = new URLSearchParams(location.search);
const token = params.get('token');
const q = token ? `?token=${encodeURIComponent(token)}` : '';
const $ = (id) => document.getElementById(id);
const COLORS = ['#e63946', '#1d3557', '#2a9d8f', '#f4a261', '#8338ec', '#3a86ff', '#fb5607', '#06d6a0'];

// State the browser test reads: what arrived, last values per tag, frames per kind.
const live = (window.__daq = { frames: { trend: 0, scope: 0, table: 0 }, lastTrend: {}, lastScope: {}, lastTable: null, errors: [] });

let streams = [];
let trendPlot = null;
let scopePlot = null;
let ws = null;
let backoff = 250;

function chart(el, title, seriesLabels, xLabel, data) {
  const series = [{ label: xLabel }];
  seriesLabels.forEach((l, i) => {
    const color = COLORS[Math.floor(i / 2) % COLORS.length];
    series.push({ label: l, stroke: color, width: i % 2 ? 1 : 1.5, spanGaps: true });
  });
  el.innerHTML = '';
  return new uPlot({ title, width: el.clientWidth || 600, height: 300, scales: { x: { time: xLabel === 'time' } }, series }, data, el);
}

function onTrend(table) {
  const tags = table.getChild('tag').toArray();
  const t = table.getChild('t_ms').toArray();
  const min = table.getChild('min').toArray();
  const max = table.getChild('max').toArray();
  const info = streams.find((s) => s.name === table.schema.metadata.get('stream'));
  const parts = new Map();
  for (let i = 0; i < tags.length; i++) {
    const name = info?.tags?.[tags[i]] ?? `tag ${tags[i]}`;
    if (!parts.has(name)) parts.set(name, [[], [], []]);
    const p = parts.get(name);
    p[0].push(t[i] / 1000);
    p[1].push(min[i]);
    p[2].push(max[i]);
  }
  const labels = [];
  const tables = [];
  const body = $('trend-last').tBodies[0];
  body.innerHTML = '';
  for (const [name, p] of parts) {
    labels.push(`${name} min`, `${name} max`);
    tables.push(p);
    const last = p[0].length - 1;
    live.lastTrend[name] = { t: p[0][last], min: p[1][last], max: p[2][last], points: p[0].length };
    body.insertAdjacentHTML('beforeend', `<tr><td>${name}</td><td>${p[1][last].toFixed(4)}</td><td>${p[2][last].toFixed(4)}</td><td>${new Date(p[0][last] * 1000).toISOString().slice(11, 23)}</td></tr>`);
  }
  const data = uPlot.join(tables);
  if (!trendPlot || trendPlot.series.length !== labels.length + 1) trendPlot = chart($('trend-chart'), 'trend (min/max per pixel)', labels, 'time', data);
  else trendPlot.setData(data);
  live.frames.trend++;
}

function onScope(table) {
  const ch = table.getChild('channel').toArray();
  const x = table.getChild('x_ns').toArray();
  const min = table.getChild('min').toArray();
  const max = table.getChild('max').toArray();
  const parts = new Map();
  for (let i = 0; i < ch.length; i++) {
    if (!parts.has(ch[i])) parts.set(ch[i], [[], [], []]);
    const p = parts.get(ch[i]);
    p[0].push(x[i]);
    p[1].push(min[i]);
    p[2].push(max[i]);
  }
  const labels = [];
  const tables = [];
  for (const [c, p] of [...parts].sort((a, b) => a[0] - b[0])) {
    labels.push(`ch${c} min`, `ch${c} max`);
    tables.push(p);
    live.lastScope[c] = { points: p[0].length, peak: Math.max(...p[2]) };
  }
  const data = uPlot.join(tables);
  if (!scopePlot || scopePlot.series.length !== labels.length + 1) scopePlot = chart($('scope-chart'), 'latest waveforms (ADC counts vs ns)', labels, 'ns', data);
  else scopePlot.setData(data);
  live.frames.scope++;
}

/** A derived table stream (FFT bins, waveform features): its newest rows, every column. */
function onTable(table) {
  const cols = table.schema.fields.map((f) => f.name);
  const n = table.numRows;
  const shown = Math.min(n, 12);
  const cell = (v) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(6)) : String(v));
  const rows = [];
  for (let r = n - shown; r < n; r++) rows.push(cols.map((c) => table.getChild(c).get(r)));
  $('table-last').tHead.innerHTML = `<tr>${cols.map((c) => `<th>${c}</th>`).join('')}</tr>`;
  $('table-last').tBodies[0].innerHTML = rows.map((row) => `<tr>${row.map((v) => `<td>${cell(v)}</td>`).join('')}</tr>`).join('');
  $('table-info').textContent = `${table.schema.metadata.get('stream')}: newest ${shown} of ${n} rows`;
  live.lastTable = { stream: table.schema.metadata.get('stream'), columns: cols, rows: rows.map((row) => row.map((v) => (typeof v === 'bigint' ? Number(v) : v))) };
  live.frames.table++;
}

function subscribe() {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  const trendStream = $('trend-stream').value;
  const scopeStream = $('scope-stream').value;
  const tags = $('trend-tags').value.split(',').map((s) => s.trim()).filter(Boolean);
  const tableStream = $('table-stream').value;
  const msg = { type: 'subscribe', streams: [trendStream, scopeStream, tableStream].filter(Boolean), pixels: 600, intervalMs: 250 };
  if (tags.length) msg.tags = tags;
  ws.send(JSON.stringify(msg));
}

function connect() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  ws = new WebSocket(`${proto}//${location.host}/live${q}`);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    backoff = 250;
    $('conn').textContent = 'live';
    $('conn').className = 'ok';
    subscribe();
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') {
      const m = JSON.parse(ev.data);
      if (m.type === 'error') live.errors.push(m.message);
      return;
    }
    const table = Arrow.tableFromIPC(new Uint8Array(ev.data));
    const kind = table.schema.metadata.get('kind');
    if (kind === 'scope') onScope(table);
    else if (kind === 'table') onTable(table);
    else onTrend(table);
  };
  ws.onclose = () => {
    $('conn').textContent = 'offline';
    $('conn').className = 'bad';
    setTimeout(connect, (backoff = Math.min(backoff * 2, 10000)));
  };
}

async function pollStatus() {
  try {
    const s = await (await fetch(`/status${q}`)).json();
    live.status = s;
    $('run').textContent = `run ${s.run_id} · ${s.state} · ${Math.round(s.uptime_s)} s`;
    $('rates').tBodies[0].innerHTML = Object.entries(s.streams)
      .map(([n, r]) => `<tr><td>${n}</td><td>${Math.round(r.rows_per_s).toLocaleString()}</td><td>${r.mb_per_s.toFixed(2)}</td><td>${r.rows.toLocaleString()}</td></tr>`)
      .join('');
    $('queues').tBodies[0].innerHTML = s.subscribers
      .map((q2) => `<tr><td>${q2.id}</td><td>${q2.mode}</td><td>${q2.inflight_batches + q2.pending_batches}</td><td>${(q2.inflight_bytes / 1e6).toFixed(1)}</td><td>${q2.dropped_batches}</td></tr>`)
      .join('');
    const faults = Object.entries(s.faults);
    $('faults').textContent = faults.length ? `faults: ${faults.map(([k, n]) => `${k} ×${n}`).join(', ')}` : 'no faults';
  } catch (err) {
    live.errors.push(String(err));
  }
}

streams = await (await fetch(`/streams${q}`)).json();
for (const s of streams) {
  const opt = `<option>${s.name}</option>`;
  if (s.kind === 'scalar') $('trend-stream').insertAdjacentHTML('beforeend', opt);
  if (s.kind === 'waveform') $('scope-stream').insertAdjacentHTML('beforeend', opt);
  if (s.kind === 'table') $('table-stream').insertAdjacentHTML('beforeend', opt);
}
if (params.get('table') && streams.some((s) => s.name === params.get('table'))) $('table-stream').value = params.get('table');
$('table-stream').onchange = subscribe;
const firstScalar = streams.find((s) => s.kind === 'scalar');
if (params.get('tags')) $('trend-tags').value = params.get('tags');
else if (firstScalar) $('trend-tags').value = firstScalar.tags.slice(0, 4).join(', ');
if (params.get('scope') && streams.some((s) => s.name === params.get('scope'))) $('scope-stream').value = params.get('scope');
$('trend-apply').onclick = subscribe;
$('trend-stream').onchange = () => {
  const s = streams.find((x) => x.name === $('trend-stream').value);
  $('trend-tags').value = s.tags.slice(0, 4).join(', ');
  subscribe();
};
$('scope-stream').onchange = subscribe;
connect();
pollStatus();
setInterval(pollStatus, 1000);
