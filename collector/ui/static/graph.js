// The service graph page: /api/graph drawn as SVG (columns by call depth) and as a table.
import {
  ApiError, el, fmtMs, fmtPct, fmtRate, getJSON, health, markNav, run, status, svg,
} from './common.js';

const NODE_W = 160;
const NODE_H = 46;
const COL_GAP = 190;
const ROW_GAP = 44;
const PAD = 30;
const REFRESH_MS = 10000;

/** Column of each node: the longest call chain leading to it (bounded, so cycles end). */
function depths(nodes, edges) {
  const depth = new Map(nodes.map((n) => [n.id, 0]));
  for (let round = 0; round < nodes.length; round += 1) {
    let changed = false;
    for (const e of edges) {
      if (e.source === e.target) continue;
      const next = depth.get(e.source) + 1;
      if (next > depth.get(e.target) && next < nodes.length) {
        depth.set(e.target, next);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return depth;
}

function layout(nodes, edges) {
  const depth = depths(nodes, edges);
  const columns = [];
  for (const node of [...nodes].sort((a, b) => a.id.localeCompare(b.id))) {
    const d = depth.get(node.id);
    (columns[d] = columns[d] || []).push(node);
  }
  const place = new Map();
  const tallest = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * ROW_GAP;
  columns.forEach((column, d) => {
    const used = column.length * NODE_H + (column.length - 1) * ROW_GAP;
    column.forEach((node, i) => {
      place.set(node.id, {
        x: PAD + d * (NODE_W + COL_GAP),
        y: (height - used) / 2 + i * (NODE_H + ROW_GAP),
      });
    });
  });
  const width = PAD * 2 + columns.length * NODE_W + Math.max(0, columns.length - 1) * COL_GAP;
  return { place, width, height: height + 40 };
}

function edgeLabel(edge) {
  const parts = [fmtRate(edge.rate), fmtPct(edge.error_rate), `p95 ${fmtMs(edge.latency_ms.p95)}`];
  return parts.join(' · ');
}

function missingTraces(edge) {
  return edge.coverage !== null && edge.coverage < 0.995;
}

function drawEdge(edge, place) {
  const a = place.get(edge.source);
  const b = place.get(edge.target);
  const state = health(edge.error_rate, edge.requests);
  const x1 = a.x + NODE_W;
  const y1 = a.y + NODE_H / 2;
  const x2 = b.x;
  const y2 = b.y + NODE_H / 2;
  const back = x2 <= x1;
  const bend = back ? Math.max(80, Math.abs(x1 - x2) / 2) : (x2 - x1) / 2;
  const d = back
    ? `M${x1},${y1} C${x1 + bend},${y1 + 90} ${x2 - bend},${y2 + 90} ${x2},${y2}`
    : `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
  const mx = (x1 + x2) / 2;
  const my = back ? (y1 + y2) / 2 + 70 : (y1 + y2) / 2 - 6;
  const title = `${edge.source} → ${edge.target}: ${edgeLabel(edge)}, ` +
    `coverage ${edge.coverage === null ? 'n/a' : fmtPct(edge.coverage)}`;
  return svg('g', { class: `edge ${state}`, 'data-edge': edge.id },
    svg('title', {}, title),
    svg('path', { d, 'marker-end': `url(#arrow-${state})` }),
    svg('text', { x: mx, y: my, 'text-anchor': 'middle' }, edgeLabel(edge)),
    missingTraces(edge)
      ? svg('text', { x: mx, y: my + 14, 'text-anchor': 'middle', class: 'coverage' },
        `traces ${fmtPct(edge.coverage)}`)
      : null);
}

function drawNode(node, place) {
  const p = place.get(node.id);
  const state = health(node.error_rate, node.requests);
  const body = svg('g', { class: `node ${state}${node.instrumented ? '' : ' virtual'}`,
    'data-node': node.id },
  svg('title', {}, `${node.id}: ${fmtRate(node.rate)} in, errors ${fmtPct(node.error_rate)}`),
  svg('rect', { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 6 }),
  svg('text', { x: p.x + NODE_W / 2, y: p.y + 19, 'text-anchor': 'middle', class: 'name' },
    node.id.length > 22 ? `${node.id.slice(0, 21)}…` : node.id),
  svg('text', { x: p.x + NODE_W / 2, y: p.y + 36, 'text-anchor': 'middle', class: 'stat' },
    node.requests ? `${fmtRate(node.rate)} · ${fmtPct(node.error_rate)}` : 'client'));
  if (!node.instrumented) return body;
  return svg('a', { href: `/ui/traces?service=${encodeURIComponent(node.id)}` }, body);
}

function markers() {
  return svg('defs', {}, ['healthy', 'degraded', 'failing', 'idle'].map((state) =>
    svg('marker', { id: `arrow-${state}`, viewBox: '0 0 10 10', refX: 10, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse', class: `arrow ${state}` },
    svg('path', { d: 'M0,0 L10,5 L0,10 z' }))));
}

function drawGraph(graph) {
  const box = document.getElementById('graph');
  if (graph.nodes.length === 0) {
    box.replaceChildren(el('p', { class: 'empty' }, 'No traffic in this window yet.'));
    return;
  }
  const { place, width, height } = layout(graph.nodes, graph.edges);
  box.replaceChildren(svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`,
    role: 'img', 'aria-label': 'service graph' },
  markers(),
  graph.edges.filter((e) => place.has(e.source) && place.has(e.target))
    .map((e) => drawEdge(e, place)),
  graph.nodes.map((n) => drawNode(n, place))));
}

function coverageCell(edge) {
  if (edge.coverage === null) return 'no sidecar metrics';
  const counts = `${Math.round(edge.traces.requests)} of ${Math.round(edge.mesh.requests)}`;
  return `${fmtPct(edge.coverage)} (${counts} traced)`;
}

function fillTable(graph) {
  const rows = graph.edges.map((e) => el('tr',
    { class: health(e.error_rate, e.requests), 'data-edge': e.id },
    el('td', {}, e.source), el('td', {}, e.target), el('td', {}, fmtRate(e.rate)),
    el('td', {}, fmtPct(e.error_rate)), el('td', {}, fmtMs(e.latency_ms.p50)),
    el('td', {}, fmtMs(e.latency_ms.p95)), el('td', {}, fmtMs(e.latency_ms.p99)),
    el('td', { class: missingTraces(e) ? 'missing' : '' }, coverageCell(e))));
  document.querySelector('#edges tbody').replaceChildren(...rows);
}

let timer = null;

async function load() {
  const form = document.getElementById('controls');
  const range = form.elements.window.value;
  let graph;
  try {
    graph = await getJSON(`/api/graph?window=${encodeURIComponent(range)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      throw new ApiError(404, 'The service graph is off on this collector (connectors.servicegraph).');
    }
    throw error;
  }
  drawGraph(graph);
  fillTable(graph);
  status(`${graph.nodes.length} nodes, ${graph.edges.length} edges over the last ` +
    `${Math.round(graph.window_s)} s; updated ${new Date().toLocaleTimeString()}`);
}

function schedule() {
  clearTimeout(timer);
  if (document.getElementById('controls').elements.auto.checked) {
    timer = setTimeout(() => run(load).then(schedule), REFRESH_MS);
  }
}

/** A window asked for in the URL (?window=5m) becomes the form's choice. */
function windowFromUrl() {
  const wanted = new URLSearchParams(window.location.search).get('window');
  const select = document.getElementById('controls').elements.window;
  if (!wanted) return;
  if (![...select.options].some((o) => o.value === wanted)) select.append(el('option', { value: wanted }, wanted));
  select.value = wanted;
}

markNav('graph');
windowFromUrl();
document.getElementById('controls').addEventListener('submit', (event) => {
  event.preventDefault();
  run(load).then(schedule);
});
document.getElementById('controls').addEventListener('change', () => run(load).then(schedule));
run(load).then(schedule);
