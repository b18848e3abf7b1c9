// The trace search page: a GET form (the URL holds the query, so back and reload work) over the
// Jaeger v1 API, and a table of the traces found, each linking to its waterfall.
import {
  el, fmtTime, fmtUs, getJSON, isError, markNav, run, status, traceLink,
} from './common.js';

const UNIT_S = { m: 60, h: 3600, d: 86400 };

/** Tags typed as `key=value key2="a value"` to Jaeger's JSON object; throws on a bad pair. */
function parseTags(text) {
  const tags = {};
  const pair = /\s*([^\s=]+)=("([^"]*)"|\S*)/y;
  let pos = 0;
  const input = text.trim();
  while (pos < input.length) {
    pair.lastIndex = pos;
    const match = pair.exec(input);
    if (!match) throw new Error(`tags: expected key=value at "${input.slice(pos, pos + 30)}"`);
    tags[match[1]] = match[3] !== undefined ? match[3] : match[2];
    pos = pair.lastIndex;
    while (pos < input.length && /\s/.test(input[pos])) pos += 1;
  }
  return tags;
}

function timeRange(form) {
  const lookback = form.elements.lookback.value;
  if (lookback === 'custom') {
    const start = Date.parse(form.elements.start.value);
    const end = form.elements.end.value ? Date.parse(form.elements.end.value) : Date.now();
    if (Number.isNaN(start) || Number.isNaN(end)) throw new Error('custom range: set From (and To)');
    if (end < start) throw new Error('custom range: To is before From');
    return { start: start * 1000, end: end * 1000 };
  }
  const seconds = Number(lookback.slice(0, -1)) * UNIT_S[lookback.slice(-1)];
  const now = Date.now() * 1000;
  return { start: now - seconds * 1e6, end: now };
}

function searchUrl(form) {
  const query = new URLSearchParams();
  const f = form.elements;
  query.set('service', f.service.value);
  if (f.operation.value) query.set('operation', f.operation.value);
  if (f.tags.value.trim()) query.set('tags', JSON.stringify(parseTags(f.tags.value)));
  for (const name of ['minDuration', 'maxDuration']) {
    if (f[name].value.trim()) query.set(name, f[name].value.trim());
  }
  const { start, end } = timeRange(form);
  query.set('start', String(Math.floor(start)));
  query.set('end', String(Math.ceil(end)));
  query.set('limit', f.limit.value || '20');
  return `/api/traces?${query}`;
}

function option(value, text, selected) {
  return el('option', { value, selected: selected ? 'selected' : null }, text);
}

async function fillOperations(form, wanted) {
  const service = form.elements.service.value;
  const select = form.elements.operation;
  if (!service) {
    select.replaceChildren(option('', 'all', true));
    return;
  }
  const answer = await getJSON(`/api/services/${encodeURIComponent(service)}/operations`);
  select.replaceChildren(option('', 'all', !wanted),
    ...answer.data.map((op) => option(op, op, op === wanted)));
}

function summarize(trace) {
  const ids = new Set(trace.spans.map((s) => s.spanID));
  const roots = trace.spans.filter((s) => !(s.references || []).some(
    (r) => r.refType === 'CHILD_OF' && ids.has(r.spanID)));
  const root = [...(roots.length ? roots : trace.spans)].sort((a, b) => a.startTime - b.startTime)[0];
  const start = Math.min(...trace.spans.map((s) => s.startTime));
  const end = Math.max(...trace.spans.map((s) => s.startTime + s.duration));
  const errors = trace.spans.filter(isError).length;
  const process = trace.processes[root.processID] || { serviceName: '?' };
  return { root, start, duration: end - start, errors, service: process.serviceName };
}

function showResults(traces) {
  const rows = traces.map(summarize).map((t, i) => ({ ...t, trace: traces[i] }))
    .sort((a, b) => b.start - a.start)
    .map((t) => el('tr', { class: t.errors ? 'failing' : '', 'data-trace': t.trace.traceID },
      el('td', {}, fmtTime(t.start)),
      el('td', {}, traceLink(t.trace.traceID, `${t.service}: ${t.root.operationName}`)),
      el('td', { class: 'mono' }, t.trace.traceID.slice(0, 12)),
      el('td', {}, String(t.trace.spans.length)),
      el('td', {}, String(t.errors)),
      el('td', {}, fmtUs(t.duration))));
  const table = document.getElementById('results');
  table.querySelector('tbody').replaceChildren(...rows);
  table.hidden = rows.length === 0;
  status(rows.length ? `${rows.length} traces` : 'No traces match this search.');
}

function restore(form, query) {
  for (const name of ['tags', 'minDuration', 'maxDuration', 'lookback', 'start', 'end', 'limit']) {
    if (query.has(name)) form.elements[name].value = query.get(name);
  }
  form.classList.toggle('custom-range', form.elements.lookback.value === 'custom');
}

async function load() {
  const form = document.getElementById('search');
  const query = new URLSearchParams(window.location.search);
  restore(form, query);
  const services = (await getJSON('/api/services')).data;
  const wanted = query.get('service') || '';
  form.elements.service.replaceChildren(option('', 'choose a service', !wanted),
    ...services.map((s) => option(s, s, s === wanted)));
  await fillOperations(form, query.get('operation') || '');
  if (!services.length) status('No services have sent spans yet.');
  if (!wanted) return;
  showResults((await getJSON(searchUrl(form))).data);
}

markNav('traces');
const form = document.getElementById('search');
form.elements.service.addEventListener('change', () => run(() => fillOperations(form, '')));
form.elements.lookback.addEventListener('change', () => {
  form.classList.toggle('custom-range', form.elements.lookback.value === 'custom');
});
form.addEventListener('submit', (event) => {
  try {
    parseTags(form.elements.tags.value);
    timeRange(form);
  } catch (error) {
    event.preventDefault();
    status(error.message, 'error');
  }
});
run(load);
