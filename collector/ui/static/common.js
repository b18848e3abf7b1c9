// Helpers shared by the UI's pages. Everything taken from data is rendered as text (textContent,
// setAttribute), never parsed as HTML: span names, attributes and log lines are user input.

const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element with attributes and children (strings become text nodes). */
export function el(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, as el(). */
export function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** An error answer of our APIs, with the HTTP status. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function errorText(body) {
  if (body && typeof body.error === 'string') return body.error;
  if (body && Array.isArray(body.errors) && body.errors.length > 0) return body.errors[0].msg;
  return null;
}

/** GET url as JSON; throws ApiError with the server's message on a non-2xx answer. */
export async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: 'application/json' } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, errorText(body) || `${response.status} ${response.statusText}`);
  }
  return body;
}

/** Health of a rate of errors, by Kiali's thresholds: degraded at >= 0.1 %, failing above 10 %. */
export function health(errorRate, requests) {
  if (!requests) return 'idle';
  if (errorRate > 0.1) return 'failing';
  if (errorRate >= 0.001) return 'degraded';
  return 'healthy';
}

export function fmtRate(perSecond) {
  if (perSecond === null || perSecond === undefined) return '–';
  return `${perSecond >= 10 ? perSecond.toFixed(0) : perSecond.toFixed(2)} rps`;
}

export function fmtPct(ratio) {
  if (ratio === null || ratio === undefined) return '–';
  const pct = ratio * 100;
  return `${pct >= 10 || pct === 0 ? pct.toFixed(0) : pct.toFixed(pct >= 1 ? 1 : 2)}%`;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms >= 100 ? ms.toFixed(0) : ms.toFixed(ms >= 10 ? 1 : 2)} ms`;
}

export function fmtUs(us) {
  return fmtMs(us / 1000);
}

export function fmtTime(epochUs) {
  return new Date(epochUs / 1000).toLocaleString();
}

/** Marks the current page in the header's navigation. */
export function markNav(page) {
  for (const link of document.querySelectorAll('nav a')) {
    if (link.dataset.page === page) link.setAttribute('aria-current', 'page');
  }
}

/** Shows a message in the page's status line (kind: info or error). */
export function status(message, kind = 'info') {
  const line = document.getElementById('status');
  line.textContent = message || '';
  line.className = message ? kind : '';
}

/** Runs the page's loader; marks body[data-state] ready or error for people and tests. */
export async function run(load) {
  document.body.dataset.state = 'loading';
  try {
    await load();
    document.body.dataset.state = 'ready';
  } catch (error) {
    status(error instanceof ApiError ? error.message : `error: ${error.message}`, 'error');
    document.body.dataset.state = 'error';
  }
}

/** A link to the waterfall of a trace. */
export function traceLink(traceId, text) {
  return el('a', { href: `/ui/traces/${encodeURIComponent(traceId)}`, class: 'trace-id' },
    text || traceId);
}

/** Whether a span (Jaeger JSON) failed: tag error=true or OpenTelemetry status ERROR. */
export function isError(span) {
  return (span.tags || []).some((t) => (t.key === 'error' && String(t.value) === 'true') ||
    (t.key === 'otel.status_code' && t.value === 'ERROR'));
}
