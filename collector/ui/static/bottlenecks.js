// The bottlenecks page: the analysis report (/api/v1/bottlenecks) per entry endpoint, ranked by
// the time a fix would save, with links from the evidence to the traces' waterfalls.
import {
  ApiError, el, fmtMs, fmtPct, getJSON, health, markNav, run, status, traceLink,
} from './common.js';

function endpointStats(e) {
  return `${e.requests} requests · ${e.errors} errors (${fmtPct(e.error_rate)}) · ` +
    `p50 ${fmtMs(e.p50_ms)} · p95 ${fmtMs(e.p95_ms)} · p99 ${fmtMs(e.p99_ms)} · ` +
    `last ${Math.round(e.lookback_s)} s`;
}

function evidence(ids) {
  if (!ids || ids.length === 0) return '–';
  return ids.flatMap((id, i) => (i ? [' ', traceLink(id, id.slice(0, 8))] : [traceLink(id, id.slice(0, 8))]));
}

function bottleneckRow(b, rank) {
  return el('tr', { 'data-service': b.service, 'data-saving-ms': b.estimated_saving_ms },
    el('td', {}, String(rank + 1)), el('td', {}, b.kind), el('td', {}, b.service),
    el('td', {}, b.operation), el('td', {}, fmtPct(b.critical_path_share)),
    el('td', {}, fmtPct(b.critical_path_share_slowest)), el('td', {}, fmtMs(b.estimated_saving_ms)),
    el('td', { class: 'detail' }, b.detail || ''), el('td', {}, evidence(b.evidence_trace_ids)));
}

const SHOWN = 8; // findings shown per endpoint before "show all"

function moreButton(rows) {
  if (rows.length <= SHOWN) return null;
  const button = el('button', { type: 'button', class: 'more' }, `show ${rows.length - SHOWN} more`);
  button.addEventListener('click', () => {
    for (const row of rows) row.hidden = false;
    button.remove();
  });
  return button;
}

function section(report) {
  const e = report.endpoint;
  const rows = report.bottlenecks.map(bottleneckRow);
  rows.forEach((row, i) => { row.hidden = i >= SHOWN; });
  return el('section', { class: `endpoint ${health(e.error_rate, e.requests)}`,
    'data-endpoint': `${e.service} ${e.operation}` },
  el('h2', {}, el('span', { class: 'service' }, e.service), ' ', e.operation, ' ',
    el('a', { class: 'small', href: `/ui/traces?${new URLSearchParams({ service: e.service })}` },
      'traces')),
  el('p', { class: 'summary' }, endpointStats(e)),
  rows.length === 0
    ? el('p', { class: 'muted' }, 'No bottleneck found for this endpoint.')
    : el('table', {}, el('thead', {}, el('tr', {}, ['#', 'kind', 'service', 'operation',
      'critical path share', 'share in slowest', 'est. saving', 'detail', 'evidence traces']
      .map((h) => el('th', {}, h)))), el('tbody', {}, rows)),
  moreButton(rows));
}

async function load() {
  const form = document.getElementById('controls');
  const query = new URLSearchParams(window.location.search);
  if (query.has('lookback')) form.elements.lookback.value = query.get('lookback');
  const params = new URLSearchParams({ lookback: form.elements.lookback.value });
  for (const name of ['service', 'operation']) if (query.get(name)) params.set(name, query.get(name));
  let answer;
  try {
    answer = await getJSON(`/api/v1/bottlenecks?${params}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404 && !params.has('service')) {
      throw new ApiError(404, 'The analysis API is not available on this collector.');
    }
    throw error;
  }
  const reports = answer.endpoints || [answer];
  document.getElementById('report').replaceChildren(...reports.map(section));
  status(reports.length ? `${reports.length} entry endpoints` : 'No entry endpoints with traffic in this window.');
}

markNav('bottlenecks');
const controls = document.getElementById('controls');
controls.addEventListener('submit', (event) => {
  event.preventDefault();
  run(load);
});
controls.addEventListener('change', () => run(load));
run(load);
