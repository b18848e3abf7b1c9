// The trace page: a waterfall of one trace's spans (Jaeger v1 JSON), the critical path from the
// analysis API marked on it, and each span's access-log lines from /api/logs/{trace_id}.
import {
  ApiError, el, fmtTime, fmtUs, getJSON, isError, markNav, run, status,
} from './common.js';

const PALETTE = 8;
const MAX_DEPTH = 200;
// A sidecar's span is named by the method alone (its route is not known): show the path too.
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']);

function tag(span, key) {
  const found = (span.tags || []).find((t) => t.key === key);
  return found ? value(found) : '';
}

function hash(text) {
  let h = 0;
  for (let i = 0; i < text.length; i += 1) h = (h * 31 + text.charCodeAt(i)) >>> 0;
  return h;
}

/** Spans in display order (depth first, children by start time) with their depth. */
function order(spans) {
  const ids = new Set(spans.map((s) => s.spanID));
  const children = new Map();
  const roots = [];
  for (const span of spans) {
    const parent = (span.references || []).find((r) => r.refType === 'CHILD_OF' && ids.has(r.spanID));
    if (parent) {
      if (!children.has(parent.spanID)) children.set(parent.spanID, []);
      children.get(parent.spanID).push(span);
    } else {
      roots.push(span);
    }
  }
  const byStart = (a, b) => a.startTime - b.startTime;
  const out = [];
  const stack = roots.sort(byStart).reverse().map((span) => [span, 0]);
  const seen = new Set();
  while (stack.length > 0 && out.length < spans.length) {
    const [span, depth] = stack.pop();
    if (seen.has(span.spanID)) continue;
    seen.add(span.spanID);
    out.push({ span, depth: Math.min(depth, MAX_DEPTH) });
    const kids = (children.get(span.spanID) || []).slice().sort(byStart).reverse();
    for (const kid of kids) stack.push([kid, depth + 1]);
  }
  return out;
}

/** Access-log records of the trace by span id (lower-case hex). */
function logsBySpan(answer) {
  const found = new Map();
  for (const rl of answer.result.resourceLogs || []) {
    for (const sl of rl.scopeLogs || []) {
      for (const record of sl.logRecords || []) {
        const id = (record.spanId || '').toLowerCase();
        if (!found.has(id)) found.set(id, []);
        found.get(id).push(record);
      }
    }
  }
  return found;
}

function value(tag) {
  return typeof tag.value === 'string' ? tag.value : JSON.stringify(tag.value);
}

function keyValues(title, tags) {
  if (!tags || tags.length === 0) return null;
  return el('div', { class: 'kv' }, el('h4', {}, title), el('table', {},
    el('tbody', {}, tags.map((t) => el('tr', {}, el('th', {}, t.key), el('td', {}, value(t)))))));
}

function logLines(records) {
  if (!records || records.length === 0) return el('p', { class: 'muted' }, 'No access-log lines.');
  return el('div', { class: 'kv' }, el('h4', {}, 'Access log'),
    records.map((r) => el('pre', { class: 'log' }, r.body && r.body.stringValue !== undefined
      ? r.body.stringValue : JSON.stringify(r.body || {}))));
}

function details(span, process, records) {
  return el('div', { class: 'details', hidden: 'hidden' },
    el('p', { class: 'mono' }, `span ${span.spanID} · started ${fmtTime(span.startTime)} · `,
      `duration ${fmtUs(span.duration)}`),
    keyValues('Tags', span.tags), keyValues(`Process: ${process.serviceName}`, process.tags),
    (span.logs || []).length ? keyValues('Events', span.logs.flatMap((l) => l.fields)) : null,
    logLines(records));
}

function bar(span, t0, total) {
  const left = ((span.startTime - t0) / total) * 100;
  const width = Math.max((span.duration / total) * 100, 0.2);
  const node = el('div', { class: 'bar' }, el('span', { class: 'label' }, fmtUs(span.duration)));
  node.style.left = `${left}%`;
  node.style.width = `${width}%`;
  return node;
}

function row(item, trace, t0, total, logs) {
  const { span, depth } = item;
  const process = trace.processes[span.processID] || { serviceName: '?', tags: [] };
  const records = logs.get(span.spanID.toLowerCase());
  const name = el('div', { class: 'name' },
    el('span', { class: `service c${hash(process.serviceName) % PALETTE}` }, process.serviceName),
    ' ', el('span', { class: 'op' }, span.operationName),
    METHODS.has(span.operationName) ? el('span', { class: 'path' }, ` ${tag(span, 'url.path')}`) : null,
    records ? el('span', { class: 'badge', title: 'access-log lines' }, `log ${records.length}`) : null);
  name.style.paddingLeft = `${depth * 14 + 4}px`;
  const more = details(span, process, records);
  const line = el('div', {
    class: `span-row${isError(span) ? ' error' : ''}`, 'data-span': span.spanID,
    role: 'button', tabindex: 0, 'aria-expanded': 'false',
  }, name, el('div', { class: 'track' }, bar(span, t0, total)));
  const toggle = () => {
    more.hidden = !more.hidden;
    line.setAttribute('aria-expanded', String(!more.hidden));
  };
  line.addEventListener('click', toggle);
  line.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') toggle(); });
  return [line, more];
}

function ruler(total) {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const tick = el('span', { class: 'tick' }, fmtUs(total * f));
    tick.style.left = `${f * 100}%`;
    return tick;
  });
  return el('div', { class: 'span-row ruler' }, el('div', { class: 'name' }, 'service: operation'),
    el('div', { class: 'track' }, ticks));
}

/** Marks the spans of the critical path and draws the part of each span that is on it. */
function markCritical(path, t0, total) {
  let marked = 0;
  for (const step of path.spans) {
    const line = document.querySelector(`.span-row[data-span="${CSS.escape(step.span_id)}"]`);
    if (!line) continue;
    line.classList.add('critical');
    const base = step.start_us < 1e14 ? t0 : 0; // offsets from the trace's start, or epoch µs
    const segment = el('div', { class: 'cp', title: `on the critical path: ${fmtUs(step.self_us)} self` });
    segment.style.left = `${((base + step.start_us - t0) / total) * 100}%`;
    segment.style.width = `${Math.max(((step.end_us - step.start_us) / total) * 100, 0.2)}%`;
    line.querySelector('.track').append(segment);
    marked += 1;
  }
  const onPath = path.spans.reduce((sum, s) => sum + (s.self_us || 0), 0);
  document.getElementById('critical').replaceChildren(el('span', { class: 'swatch critical' }),
    `critical path: ${marked} spans, ${fmtUs(onPath)} (violet: the part of each span on it)`);
}

async function criticalPath(traceId) {
  try {
    const full = traceId.toLowerCase().padStart(32, '0'); // the analysis takes 32 digits
    return await getJSON(`/api/v1/critical-path/${full}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

async function load() {
  const traceId = decodeURIComponent(window.location.pathname.split('/').pop());
  document.getElementById('title').textContent = `Trace ${traceId}`;
  const [answer, logAnswer, path] = await Promise.all([
    getJSON(`/api/traces/${encodeURIComponent(traceId)}`),
    getJSON(`/api/logs/${encodeURIComponent(traceId)}`),
    criticalPath(traceId),
  ]);
  const trace = answer.data[0];
  const t0 = Math.min(...trace.spans.map((s) => s.startTime));
  const total = Math.max(1, Math.max(...trace.spans.map((s) => s.startTime + s.duration)) - t0);
  const items = order(trace.spans);
  const root = items[0].span;
  const services = new Set(trace.spans.map((s) => (trace.processes[s.processID] || {}).serviceName));
  document.title = `${root.operationName} · trace · glassmesh`;
  document.getElementById('summary').textContent = `${trace.processes[root.processID].serviceName}: ` +
    `${root.operationName} · started ${fmtTime(t0)} · ${fmtUs(total)} · ${trace.spans.length} spans ` +
    `· ${services.size} services · ${trace.spans.filter(isError).length} errors`;
  const logs = logsBySpan(logAnswer);
  const rows = items.flatMap((item) => row(item, trace, t0, total, logs));
  document.getElementById('waterfall').replaceChildren(ruler(total), ...rows);
  if (path) markCritical(path, t0, total);
  else status('No critical path for this trace (not complete yet, or the analysis is off).');
}

markNav('traces');
run(load);
