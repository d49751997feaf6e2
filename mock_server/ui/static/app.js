// The inbox (product.md §6): a thin client of the control API under /_mock, kept live by the server-sent events of
// /_mock/events. Plain ES module, no build step, no dependencies: it must work offline.
//
// Security rule for this whole file: every string that comes from a message (text, phone, URLs, headers, bodies) is
// put into the page as text (text nodes / textContent) or as an attribute value through setAttribute, and only
// after validation for URLs. There is no innerHTML anywhere. A link or image is active only when its URL parses as
// http: or https:; anything else (javascript:, data:, relative paths) is shown as inert text. The server adds a
// Content-Security-Policy without 'unsafe-inline' as a second line of defence.

const API = '/_mock';
const STATUSES = ['accepted', 'sent', 'delivered', 'seen', 'undeliverable', 'expired', 'rejected'];
const FINAL = new Set(['delivered', 'seen', 'undeliverable', 'expired', 'rejected']);
const PROVIDERS = { esms: 'eSMS', infobip: 'Infobip', nxcloud: 'NXCLOUD' };
// [status sent to POST /_mock/messages/{id}/status, button label]: "Failed" is the neutral `undeliverable`.
const FORCE = [['delivered', 'Delivered'], ['seen', 'Seen'], ['undeliverable', 'Failed'], ['expired', 'Expired']];
const LOAD_LIMIT = 10000; // the control API's maximum page; the store is bounded anyway
const POLL_MS = 3000; // only while the event stream is down
const CLOCK_POLL_MS = 5000;
const ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;
const ISO_RE = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;
// Content keys the bubble and the cards render; any other key is listed under "Other content".
const RENDERED_KEYS = new Set(['text', 'image', 'button_text', 'button_url', 'file_name', 'file_url', 'file_type',
  'thumbnail', 'video', 'video_size', 'video_duration']);

const state = {
  messages: new Map(), // id -> message JSON as the control API serves it
  order: new Map(), // id -> arrival rank, to keep "newest first" stable when mock-clock times are equal
  rank: 0,
  total: 0, // the server's total at the last full load
  selected: null, // id of the message in the view
  live: false,
  pollTimer: null,
  retryMs: 1000,
  loadGen: 0, // the newest full load; older answers are dropped
  clears: 0, // clears and resets seen: a message fetched across one is not brought back
  changes: 0, // counts updates brought by events
  touched: new Map(), // id -> `changes` when an event last updated it
};

const $ = (id) => document.getElementById(id);
const els = {};

// --- small DOM helpers (text only, never markup) -----------------------------------------------------------------

/** The URL as an absolute http(s) URL string, or null: the only URLs this page ever makes active. */
export function safeUrl(value) {
  if (typeof value !== 'string' || value.trim() === '') return null;
  let url;
  try {
    url = new URL(value.trim());
  } catch {
    return null;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
}

/** createElement with attributes (names chosen by this code; values set with setAttribute) and text/node children. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'href' || name === 'src' || name === 'poster') {
      const url = safeUrl(value); // defence in depth: callers validate too
      if (url) el.setAttribute(name, url);
    } else el.setAttribute(name, value === true ? '' : String(value));
  }
  add(el, ...children);
  return el;
}

/** Long text as several text nodes in spans (no markup is parsed): Blink re-shapes an unbroken run on every line it
 * wraps, so one 40 000-character word took seconds to lay out in the narrow bubble. */
function longText(value, size = 200) {
  const s = str(value);
  if (s.length <= size) return s;
  const parts = [];
  for (let i = 0; i < s.length;) {
    let end = Math.min(i + size, s.length);
    if (end < s.length && /[\uD800-\uDBFF]/.test(s[end - 1])) end += 1; // never split a surrogate pair
    parts.push(h('span', {}, s.slice(i, end)));
    i = end;
  }
  return parts;
}

function add(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const ICONS = {
  link: 'M10.6 13.4a1 1 0 0 1 0-1.4l3.5-3.5a1 1 0 1 1 1.4 1.4L12 13.4a1 1 0 0 1-1.4 0zM8.5 20a4.5 4.5 0 0 1-3.2-7.7l2.1-2.1a1 1 0 1 1 1.4 1.4l-2.1 2.1a2.5 2.5 0 0 0 3.5 3.5l2.1-2.1a1 1 0 1 1 1.4 1.4l-2.1 2.1A4.5 4.5 0 0 1 8.5 20zm8-5.8a1 1 0 0 1-.7-1.7l2.1-2.1a2.5 2.5 0 0 0-3.5-3.5l-2.1 2.1a1 1 0 1 1-1.4-1.4L13 5.5a4.5 4.5 0 0 1 6.4 6.4l-2.1 2.1a1 1 0 0 1-.8.2z',
  file: 'M6 2h8l6 6v12a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zm7 1.5V9h5.5L13 3.5z',
  play: 'M8 5.1v13.8a1 1 0 0 0 1.5.9l11-6.9a1 1 0 0 0 0-1.8l-11-6.9A1 1 0 0 0 8 5.1z',
  image: 'M4 4h16a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm0 12.6V18h16v-2.6l-4.3-4.3-3.2 3.2-2.3-2.3L4 16.6zM8.5 7a2 2 0 1 0 0 4 2 2 0 0 0 0-4z',
  sms: 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-4.6 3.7A.9.9 0 0 1 2 21V5a2 2 0 0 1 2-2z',
  back: 'M15.7 4.3a1 1 0 0 1 0 1.4L9.4 12l6.3 6.3a1 1 0 1 1-1.4 1.4l-7-7a1 1 0 0 1 0-1.4l7-7a1 1 0 0 1 1.4 0z',
};

function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', `icon icon-${name}`);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

// --- formatting --------------------------------------------------------------------------------------------------

const str = (v) => (v === null || v === undefined ? '' : String(v));

function parseTime(iso) {
  const t = Date.parse(str(iso));
  return Number.isNaN(t) ? null : t;
}

/** A mock-clock time as "HH:MM:SS.mmm" (UTC, as the control API reports it), inside a <time> element. */
function timeEl(iso, { withDate = false } = {}) {
  const m = ISO_RE.exec(str(iso));
  if (!m) return h('span', { class: 'time unknown' }, str(iso) || '—');
  const ms = (m[3] || '.000').slice(0, 4).padEnd(4, '0');
  const text = `${withDate ? `${m[1]} ` : ''}${m[2]}${ms}${m[4] === 'Z' ? ' UTC' : ` ${m[4]}`}`;
  return h('time', { datetime: iso, title: iso }, text);
}

function offsetText(iso, fromIso) {
  const a = parseTime(iso);
  const b = parseTime(fromIso);
  if (a === null || b === null) return '';
  const s = (a - b) / 1000;
  if (s === 0) return '+0 s';
  if (Math.abs(s) < 60) return `+${s.toFixed(3).replace(/\.?0+$/, '')} s`;
  const whole = Math.round(s); // rounded before it is split: 119.6 s read "+1 min 60 s"
  if (Math.abs(whole) < 3600) return `+${Math.floor(whole / 60)} min ${whole % 60} s`;
  return `+${(s / 3600).toFixed(1)} h`;
}

/** NXCLOUD gives videoSize in bytes. */
function sizeText(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n) || n < 0) return str(bytes);
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function pretty(value) {
  if (typeof value === 'string') {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

const providerName = (p) => PROVIDERS[p] || str(p);
const statusBadge = (s) => h('span', { class: `status status-${STATUSES.includes(s) ? s : 'other'}` }, str(s));
const providerBadge = (p) => h('span', { class: `provider provider-${p in PROVIDERS ? p : 'other'}` }, providerName(p));

const rawObject = (m) => (m.raw_request && typeof m.raw_request === 'object' && !Array.isArray(m.raw_request)
  ? m.raw_request : {});
const stepsOn = (m, channel) => (m.history || []).filter((c) => c.channel === channel);

/** The message was (also) tried as SMS: Infobip OMNI moves a message to its SMS step when Viber fails. */
function onSms(m) {
  return m.channel === 'sms' || stepsOn(m, 'sms').length > 0;
}

/** Viber was tried first and the message then went out as SMS (the failover the inbox shows). */
function failedOver(m) {
  return onSms(m) && (stepsOn(m, 'viber').length > 0 || Boolean(rawObject(m).viber));
}

/** What the Viber step carried. When the message moved on to SMS, `content` holds the SMS step's content, so the
 * Viber content comes from the request as received (Infobip's `viber` object, or the /text endpoint's `text`). */
function viberContent(m) {
  if (m.channel !== 'sms') return m.content || {};
  const raw = rawObject(m);
  const v = raw.viber && typeof raw.viber === 'object' ? raw.viber : null;
  if (v) {
    const out = { text: v.text, image: v.imageURL, button_text: v.buttonText, button_url: v.buttonURL };
    return Object.fromEntries(Object.entries(out).filter(([, x]) => x !== undefined && x !== null && x !== ''));
  }
  return typeof raw.text === 'string' ? { text: raw.text } : {};
}

/** The text the SMS step carried. */
function smsText(m) {
  if (m.channel === 'sms') return str((m.content || {}).text);
  const raw = rawObject(m);
  if (raw.sms && typeof raw.sms === 'object' && raw.sms.text) return str(raw.sms.text);
  return str(raw.text || (m.content || {}).text);
}

/** An Infobip failover handed the message to its next step (SMS), not yet sent: the message still shows the failed
 * step's final status, but its walk goes on and a status can be forced on the new step (README, control API). */
function underWay(m) {
  const history = m.history || [];
  const last = history[history.length - 1];
  return Boolean(last && last.channel && m.channel && last.channel !== m.channel);
}

function smsTag(m) {
  if (!onSms(m)) return null;
  return h('span', { class: 'tag tag-sms' }, failedOver(m) ? 'SMS fallback' : 'SMS');
}

function previewText(m) {
  const c = m.content || {};
  // The first line (README: each row shows it); the whole text ran on in the row, its line breaks as spaces.
  if (c.text) return str(c.text).trim().split(/\r\n|\r|\n/, 1)[0] || str(c.text);
  if (c.image) return '[image]';
  if (c.file_name || c.file_url) return `[file] ${str(c.file_name)}`;
  if (c.video) return '[video]';
  return '(no text)';
}

// --- filtering ---------------------------------------------------------------------------------------------------

const digits = (p) => str(p).replace(/\D/g, '');
// As the server's phones.international(): 0084901… is 84901… after the international call prefix 00 (the control API's
// ?phone= finds it so; this read it as 84084…), a single trunk 0 stands for 84.
const intl = (p) => {
  const d = digits(p);
  if (d.startsWith('00')) return d.slice(2);
  return d.startsWith('0') ? `84${d.slice(1)}` : d;
};

function readFilters() {
  return {
    text: els.fText.value.trim().toLowerCase(),
    provider: els.fProvider.value,
    phone: els.fPhone.value.trim(),
    status: els.fStatus.value,
  };
}

function haystack(m) {
  const parts = [m.id, m.provider_id, m.phone, m.account, m.batch_id, m.channel, m.status, providerName(m.provider)];
  for (const v of Object.values(m.content || {})) parts.push(typeof v === 'object' ? JSON.stringify(v) : v);
  // A message that failed over holds the SMS step's content; the Viber bubble above it shows what Viber carried, and a
  // search for that text finds the message too.
  if (m.channel === 'sms') parts.push(...Object.values(viberContent(m)));
  return parts.map(str).join('\n').toLowerCase();
}

function matches(m, f, { ignoreStatus = false } = {}) {
  if (f.provider && m.provider !== f.provider) return false;
  if (!ignoreStatus && f.status && m.status !== f.status) return false;
  if (f.phone) {
    const fd = digits(f.phone);
    // The same phone in either form: 0901… and 84901… (product.md §5.1).
    if (fd && !(digits(m.phone).includes(fd) || intl(m.phone).includes(intl(f.phone)) || intl(m.phone).includes(fd))) {
      return false;
    }
  }
  if (f.text && !haystack(m).includes(f.text)) return false;
  return true;
}

function sorted(list) {
  return list.sort((a, b) => {
    const ta = parseTime(a.created_at) ?? 0;
    const tb = parseTime(b.created_at) ?? 0;
    if (ta !== tb) return tb - ta;
    return (state.order.get(b.id) ?? 0) - (state.order.get(a.id) ?? 0);
  });
}

// --- the control API ---------------------------------------------------------------------------------------------

async function api(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(API + path, init);
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const why = data && typeof data.error === 'string' ? data.error : `HTTP ${resp.status}`;
    const err = new Error(why);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function notify(text, kind = 'info') {
  els.notice.textContent = text;
  els.notice.dataset.kind = kind;
}

// --- state updates -----------------------------------------------------------------------------------------------

/** How far along a copy of a message is: a later copy never loses to an earlier one arriving late. */
const progress = (m) => (m.history || []).length * 1000 + (m.callbacks || []).length;

/** A summary (the event stream, the list's view=summary) leaves out a request body over 4 KB, a big batch's: the body
 * never changes, so one already fetched for the message is kept. */
function withBody(m, old) {
  return !('raw_request' in m) && old && 'raw_request' in old ? { ...m, raw_request: old.raw_request } : m;
}

function upsert(m, { created = false } = {}) {
  if (!m || typeof m.id !== 'string') return;
  const old = state.messages.get(m.id);
  if (old && progress(old) > progress(m)) {
    // An older copy still brings the body a newer summary lacks (the whole message fetched when it was opened).
    const kept = withBody(old, m);
    if (kept !== old) {
      state.messages.set(m.id, kept);
      scheduleRender(m.id);
    }
    return;
  }
  m = withBody(m, old);
  if (!state.order.has(m.id)) state.order.set(m.id, ++state.rank);
  state.messages.set(m.id, m);
  state.touched.set(m.id, ++state.changes);
  if (created && !old) {
    state.total += 1;
    els.announce.textContent = `New ${providerName(m.provider)} message to ${str(m.phone)}`;
  }
  scheduleRender(m.id);
}

function onCallback(attempt) {
  const m = attempt && state.messages.get(attempt.message_id);
  if (!m) return;
  const list = (m.callbacks || []).slice();
  const same = (c) => (attempt.id && c.id ? c.id === attempt.id
    : c.at === attempt.at && c.attempt === attempt.attempt && c.url === attempt.url);
  const i = list.findIndex(same);
  if (i >= 0) list[i] = attempt;
  else list.push(attempt);
  state.messages.set(m.id, { ...m, callbacks: list });
  state.touched.set(m.id, ++state.changes);
  scheduleRender(m.id);
}

async function loadAll() {
  // A full load races with the event stream: an event may land while the list is in flight. Only the newest load
  // counts, and a message an event brought in after this load started is kept even if the list does not have it.
  const gen = ++state.loadGen;
  const since = state.changes;
  try {
    // Summaries: after two 5 000-phone sends the full list repeated a 65 KB body 10 000 times (658 MB, the server
    // held for 18 s); a message's own body is fetched when it is opened (select).
    const data = await api('GET', `/messages?limit=${LOAD_LIMIT}&view=summary`);
    if (gen !== state.loadGen) return;
    const fresh = new Map();
    const items = Array.isArray(data.items) ? data.items : [];
    // items come newest first: give older ones lower ranks, unless already known.
    for (let i = items.length - 1; i >= 0; i -= 1) {
      const m = items[i];
      if (!m || typeof m.id !== 'string') continue;
      if (!state.order.has(m.id)) state.order.set(m.id, ++state.rank);
      const old = state.messages.get(m.id);
      fresh.set(m.id, old && progress(old) > progress(m) ? old : withBody(m, old));
    }
    for (const [id, m] of state.messages) {
      if (!fresh.has(id) && (state.touched.get(id) ?? 0) > since) fresh.set(id, m);
    }
    state.messages = fresh;
    state.total = Math.max(typeof data.total === 'number' ? data.total : items.length, fresh.size);
    for (const id of fresh.keys()) dirty.add(id);
    render();
  } catch (err) {
    notify(`Could not load messages: ${err.message}`, 'error');
  }
}

/** Every few seconds: does the server hold as many messages as the page? Clearing the inbox from another tab or
 * from a test (DELETE /_mock/messages) sends no event, so this is how the page notices; any other gap heals too. */
async function checkTotal() {
  try {
    const data = await api('GET', '/messages?limit=1');
    const expected = Math.min(typeof data.total === 'number' ? data.total : 0, LOAD_LIMIT);
    if (expected !== state.messages.size) loadAll();
  } catch {
    // the connection indicator tells the story
  }
}

async function loadClock() {
  try {
    const clock = await api('GET', '/clock');
    showClock(clock.now, clock.mode);
  } catch {
    // shown as "…" until the next try; the connection indicator tells why
  }
}

function showClock(now, mode) {
  els.clockNow.replaceChildren(timeEl(now, { withDate: true }));
  if (mode) {
    els.clockMode.textContent = mode === 'manual' ? 'manual' : 'real';
    els.clockMode.dataset.mode = mode;
  }
}

// --- live events -------------------------------------------------------------------------------------------------

function setConn(kind, text) {
  state.live = kind === 'live';
  els.conn.dataset.state = kind;
  els.connText.textContent = text;
}

function startPolling() {
  if (state.pollTimer) return;
  state.pollTimer = setInterval(loadAll, POLL_MS);
}

function stopPolling() {
  clearInterval(state.pollTimer);
  state.pollTimer = null;
}

function parseData(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return null;
  }
}

function connect() {
  const es = new EventSource(`${API}/events`);
  es.addEventListener('open', () => {
    setConn('live', 'Live');
    state.retryMs = 1000;
    stopPolling();
    loadAll(); // catch up on whatever happened while the stream was not open
  });
  es.addEventListener('message.created', (e) => upsert(parseData(e), { created: true }));
  es.addEventListener('message.updated', (e) => upsert(parseData(e)));
  es.addEventListener('callback.attempted', (e) => onCallback(parseData(e)));
  const cleared = () => {
    state.clears += 1;
    state.messages.clear();
    state.touched.clear();
    state.total = 0;
    render();
    loadAll();
  };
  es.addEventListener('reset', cleared);
  es.addEventListener('messages.cleared', cleared); // DELETE /_mock/messages, from this tab or another
  // The server could not send every event (thousands at once, e.g. a clock advance): what they changed is reloaded,
  // or the statuses they carried would never show.
  es.addEventListener('events.dropped', () => loadAll());

  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) {
      // The browser gives up on HTTP errors; retry ourselves and poll meanwhile so the list stays current.
      setConn('offline', 'Not live: polling');
      startPolling();
      setTimeout(connect, state.retryMs);
      state.retryMs = Math.min(state.retryMs * 2, 30000);
    } else {
      setConn('connecting', 'Reconnecting…');
    }
  });
}

// --- rendering: the list and the counts --------------------------------------------------------------------------

let renderQueued = false;
const dirty = new Set();

function scheduleRender(id) {
  if (id) dirty.add(id);
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

const itemEls = new Map(); // id -> <li>, reused so focus and scroll survive live updates

function renderItem(li, m) {
  let button = li.firstElementChild;
  if (!button) {
    button = h('button', { type: 'button', class: 'item', 'data-id': m.id });
    li.append(button);
  }
  const when = ISO_RE.exec(str(m.created_at));
  button.replaceChildren(
    h('span', { class: 'item-top' },
      providerBadge(m.provider),
      h('span', { class: 'item-phone' }, str(m.phone)),
      h('span', { class: 'item-time' }, when ? when[2] : '')),
    h('span', { class: 'item-text' }, previewText(m)),
    h('span', { class: 'item-bottom' },
      statusBadge(m.status),
      smsTag(m),
      (m.callbacks || []).length
        ? h('span', { class: 'tag' }, `${m.callbacks.length} callback${m.callbacks.length === 1 ? '' : 's'}`)
        : null),
  );
  const label = `${providerName(m.provider)} to ${str(m.phone)}, ${str(m.status)}: ${previewText(m)}`;
  button.setAttribute('aria-label', label);
  if (m.id === state.selected) button.setAttribute('aria-current', 'true');
  else button.removeAttribute('aria-current');
}

function renderList(filters) {
  const visible = sorted([...state.messages.values()].filter((m) => matches(m, filters)));
  const active = document.activeElement;
  const focusedId = active && active.classList.contains('item') ? active.dataset.id : null;
  const keep = new Set();
  for (const m of visible) {
    let li = itemEls.get(m.id);
    if (!li) {
      li = h('li', { 'data-id': m.id });
      itemEls.set(m.id, li);
      renderItem(li, m);
    } else if (dirty.has(m.id) || li.dataset.rendered !== 'yes' || li.dataset.selected !== String(m.id === state.selected)) {
      renderItem(li, m);
    }
    li.dataset.rendered = 'yes';
    li.dataset.selected = String(m.id === state.selected);
    keep.add(m.id);
  }
  // Reorder with the fewest moves (a moved node would lose focus), then drop what is filtered out or gone.
  let ref = els.list.firstChild;
  for (const m of visible) {
    const li = itemEls.get(m.id);
    if (li === ref) ref = ref.nextSibling;
    else els.list.insertBefore(li, ref);
  }
  while (ref) {
    const next = ref.nextSibling;
    ref.remove();
    ref = next;
  }
  for (const id of [...itemEls.keys()]) if (!state.messages.has(id)) itemEls.delete(id);
  if (focusedId && document.activeElement !== active) {
    const again = itemEls.get(focusedId);
    if (again && again.isConnected) again.firstElementChild.focus();
  }
  const count = state.messages.size;
  els.empty.hidden = count > 0;
  let status = count === 0 ? 'No messages' : `${visible.length} of ${count} message${count === 1 ? '' : 's'}`;
  // The page loads at most LOAD_LIMIT messages (README, "The inbox"): say so, or the filters and the By status counts,
  // which see only those, pass for the whole store.
  if (state.total > count) {
    status += `: only the newest ${count} of ${state.total} are loaded; the filters and counts cover these`;
  }
  if (els.listStatus.textContent !== status) els.listStatus.textContent = status;
}

function renderCounts(filters) {
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
  let all = 0;
  for (const m of state.messages.values()) {
    if (!matches(m, filters, { ignoreStatus: true })) continue;
    all += 1;
    if (m.status in counts) counts[m.status] += 1;
  }
  for (const [key, n] of [['', all], ...STATUSES.map((s) => [s, counts[s]])]) {
    const button = els.counts.querySelector(`button[data-status="${key}"]`);
    button.querySelector('.count').textContent = String(n);
    button.setAttribute('aria-pressed', String(filters.status === key));
  }
}

function buildCounts() {
  for (const key of ['', ...STATUSES]) {
    const button = h('button', { type: 'button', class: 'count-button', 'data-status': key, 'aria-pressed': 'false' },
      key ? statusBadge(key) : h('span', { class: 'status status-all' }, 'all'),
      h('span', { class: 'count' }, '0'));
    button.addEventListener('click', () => {
      els.fStatus.value = key;
      render();
    });
    els.counts.append(h('li', {}, button));
  }
}

function render() {
  const filters = readFilters();
  renderList(filters);
  renderCounts(filters);
  if (state.selected && (dirty.has(state.selected) || !els.view.dataset.id)) renderView();
  if (state.selected && !state.messages.has(state.selected) && els.view.dataset.id === state.selected) {
    renderMissing(state.selected);
  }
  dirty.clear();
}

// --- rendering: the message view ---------------------------------------------------------------------------------

function linkOrText(url, label, cls) {
  const safe = safeUrl(url);
  if (safe) {
    return h('a', { class: cls, href: safe, target: '_blank', rel: 'noopener noreferrer' }, label);
  }
  return h('span', { class: `${cls} inert`, title: 'Not an http(s) link: shown as text, not followed' }, longText(label));
}

/** The URL points at this mock server itself (its own origin, or its port on a loopback name): loading it would be
 * a request to the mock, made by merely looking at a message (an eSMS GET send URL sends a message, whose image can
 * be that same URL again). */
function atThisServer(url) {
  const u = new URL(url);
  if (u.origin === window.location.origin) return true;
  const port = (x) => x.port || (x.protocol === 'https:' ? '443' : '80');
  const loopback = /^(localhost|127(\.\d{1,3}){3}|\[::1\]|0\.0\.0\.0)$/i;
  return port(u) === port(window.location)
    && (u.hostname === window.location.hostname || loopback.test(u.hostname) || loopback.test(window.location.hostname));
}

function imageEl(url, alt, cls) {
  const safe = safeUrl(url);
  if (!safe) {
    return h('p', { class: `${cls} inert-media` }, icon('image'), ' image not shown (not an http(s) URL): ', longText(url));
  }
  if (atThisServer(safe)) {
    return h('p', { class: `${cls} inert-media` }, icon('image'), ' image not loaded (it points at this mock server): ',
      longText(safe));
  }
  return h('img', { class: cls, src: safe, alt, loading: 'lazy', referrerpolicy: 'no-referrer' });
}

function viberBubble(m) {
  const c = viberContent(m);
  const bubble = h('div', { class: 'bubble bubble-viber', 'data-testid': 'viber-bubble' });
  if (c.image) add(bubble, imageEl(c.image, 'Image in the message', 'bubble-image'));
  if (c.video || c.thumbnail) {
    const safe = safeUrl(c.video);
    const facts = [c.video_duration ? `${c.video_duration} s` : '', c.video_size ? sizeText(c.video_size) : '']
      .filter(Boolean).join(' · ');
    add(bubble, h('div', { class: 'card card-video', 'data-testid': 'video-card' },
      h('div', { class: 'video-frame' },
        c.thumbnail ? imageEl(c.thumbnail, 'Video thumbnail', 'video-thumb') : null,
        h('span', { class: 'play' }, icon('play'))),
      h('p', { class: 'card-line' }, 'Video', facts ? ` · ${facts}` : ''),
      c.video ? linkOrText(c.video, safe ? 'Open video' : str(c.video), 'card-link') : null));
  }
  if (c.file_name || c.file_url) {
    add(bubble, h('div', { class: 'card card-file', 'data-testid': 'file-card' },
      icon('file'),
      h('div', { class: 'card-body' },
        h('p', { class: 'card-title' }, str(c.file_name) || 'File'),
        c.file_type ? h('p', { class: 'card-line' }, str(c.file_type).toUpperCase()) : null,
        c.file_url ? linkOrText(c.file_url, safeUrl(c.file_url) ? 'Download' : str(c.file_url), 'card-link') : null)));
  }
  // white-space: pre-wrap in CSS keeps the sender's line breaks; emoji are plain text.
  if (c.text) add(bubble, h('p', { class: 'bubble-text', 'data-testid': 'bubble-text' }, longText(c.text)));
  if (c.button_text || c.button_url) {
    const label = str(c.button_text) || str(c.button_url);
    const safe = safeUrl(c.button_url);
    add(bubble, safe
      ? h('a', { class: 'bubble-button', href: safe, target: '_blank', rel: 'noopener noreferrer',
        'data-testid': 'bubble-button', title: safe }, label, icon('link'))
      : h('span', { class: 'bubble-button inert', 'data-testid': 'bubble-button',
        title: 'Not an http(s) link: shown as text, not followed' }, label));
    add(bubble, h('p', { class: 'bubble-url' + (safe ? '' : ' inert'), 'data-testid': 'bubble-url' },
      safe ? longText(safe) : longText(`link not active: ${str(c.button_url)}`)));
  }
  add(bubble, h('p', { class: 'bubble-meta' }, timeEl(m.created_at), ' · Viber'));
  return bubble;
}

/** The avatar's letter: the sender's first whole character as the eye sees it (an emoji, a flag, a letter with its
 * accents), never half a surrogate pair (slice(0, 1) of "😀Shop" showed a broken glyph); invisible format and control
 * characters (a right-to-left override, a zero-width space) are skipped. */
function avatarLetter(name) {
  const visible = name.replace(/[\p{Cf}\p{Cc}\p{Z}]/gu, '');
  let first;
  if (typeof Intl === 'object' && typeof Intl.Segmenter === 'function') {
    const next = new Intl.Segmenter().segment(visible)[Symbol.iterator]().next();
    first = next.done ? '' : next.value.segment;
  } else {
    [first = ''] = visible;
  }
  return first.toUpperCase();
}

function phoneView(m) {
  const meta = m.meta || {};
  const raw = rawObject(m);
  const flow = Array.isArray(meta.flow) ? meta.flow : [];
  const viberStep = flow.find((s) => s && s.channel === 'VIBER');
  const smsStep = flow.find((s) => s && s.channel === 'SMS');
  const sender = str(meta.brandname || meta.sender || (viberStep && viberStep.from) || raw.Brandname || raw.from
    || raw.senderId || m.account || providerName(m.provider));
  const screen = h('div', { class: 'screen' });
  const viberSteps = stepsOn(m, 'viber');
  const smsSteps = stepsOn(m, 'sms');
  const showViber = m.channel !== 'sms' || failedOver(m);
  if (showViber) {
    const viberStatus = viberSteps.length ? viberSteps[viberSteps.length - 1].status : m.status;
    add(screen, viberBubble(m), h('p', { class: 'receipt' }, 'Viber: ', statusBadge(viberStatus)));
  }
  if (onSms(m)) {
    // Before its first change, the SMS step of a failover has only been handed over: the message's status is still
    // the Viber step's failure, which is not the SMS's.
    const last = smsSteps.length ? smsSteps[smsSteps.length - 1].status : (showViber ? 'accepted' : m.status);
    add(screen,
      showViber ? h('p', { class: 'divider' }, icon('sms'), ' Viber failed: sent as SMS',
        smsStep && smsStep.from ? ` from ${str(smsStep.from)}` : '') : null,
      h('div', { class: 'bubble bubble-sms', 'data-testid': 'sms-bubble' },
        h('p', { class: 'bubble-label' }, 'SMS'),
        h('p', { class: 'bubble-text' }, longText(smsText(m))),
        h('p', { class: 'bubble-meta' }, smsSteps.length ? timeEl(smsSteps[0].at) : '', ' · SMS')),
      h('p', { class: 'receipt' }, 'SMS: ', statusBadge(last)));
  }
  return h('div', { class: 'phone', role: 'group', 'aria-label': `The message as the phone of ${str(m.phone)} shows it` },
    h('div', { class: 'phone-bar' },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, avatarLetter(sender)),
      h('span', { class: 'phone-sender' }, sender),
      h('span', { class: 'phone-to' }, `to ${str(m.phone)}`)),
    screen);
}

function timeline(m) {
  const items = (m.history || []).map((c) => h('li', { class: `step step-${STATUSES.includes(c.status) ? c.status : 'other'}` },
    h('span', { class: 'step-dot', 'aria-hidden': 'true' }),
    h('div', { class: 'step-body' },
      h('p', { class: 'step-head' },
        statusBadge(c.status),
        c.channel ? h('span', { class: `tag tag-${c.channel === 'sms' ? 'sms' : 'channel'}` }, `on ${str(c.channel)}`) : null,
        h('span', { class: 'step-time' }, timeEl(c.at), ' ', h('span', { class: 'offset' }, offsetText(c.at, m.created_at)))),
      c.detail ? h('p', { class: 'step-detail' }, str(c.detail)) : null)));
  if (!items.length) return h('p', { class: 'muted' }, 'No status changes recorded.');
  return h('ol', { class: 'timeline', 'data-testid': 'timeline' }, items);
}

function kvTable(entries, caption) {
  if (!entries.length) return null;
  return h('table', { class: 'kv' },
    h('caption', {}, caption),
    h('tbody', {}, entries.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, str(k)), h('td', {}, str(v))))));
}

function callbackCard(cb, m) {
  const ok = cb.delivered || (typeof cb.status === 'number' && cb.status >= 200 && cb.status < 300);
  const request = cb.request || {};
  const key = cb.id || `${cb.at}-${cb.attempt}`;
  let query = [];
  try {
    query = [...new URL(str(cb.url)).searchParams.entries()];
  } catch {
    query = [];
  }
  // A function, not a node: the outcome shows in the head and in the response column (a node can be in one place).
  const outcome = () => (cb.error
    ? h('span', { class: 'result result-error' }, str(cb.error))
    : h('span', { class: `result ${ok ? 'result-ok' : 'result-error'}` },
      cb.status === null || cb.status === undefined ? 'no answer' : `HTTP ${cb.status}`));
  let shortUrl = str(cb.url);
  try {
    const u = new URL(str(cb.url));
    shortUrl = `${u.origin}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    // not a URL: shown as it is
  }
  const replay = cb.id && ID_RE.test(cb.id)
    ? h('button', { type: 'button', class: 'secondary small', 'data-focus': `replay-${cb.id}`,
      onclick: () => replayCallback(cb.id) }, 'Re-send')
    : null;
  const details = h('details', { class: 'cb-details', 'data-open-key': `cb-${key}` },
    h('summary', {}, 'Request sent and response received'),
    h('div', { class: 'cb-grid' },
      h('div', {},
        h('h5', {}, 'Request'),
        h('p', { class: 'mono wrap' }, `${str(cb.method)} ${str(cb.url)}`),
        kvTable(query, 'Query parameters'),
        kvTable(Object.entries(request.headers || {}), 'Headers'),
        request.body !== null && request.body !== undefined && request.body !== ''
          ? h('pre', { class: 'code' }, h('code', {}, pretty(request.body))) : null,
        Object.entries(request).filter(([k]) => k !== 'headers' && k !== 'body').length
          ? h('pre', { class: 'code' }, h('code', {}, pretty(Object.fromEntries(
            Object.entries(request).filter(([k]) => k !== 'headers' && k !== 'body'))))) : null),
      h('div', {},
        h('h5', {}, 'Response'),
        h('p', {}, outcome(), cb.latency_ms !== undefined ? ` in ${cb.latency_ms} ms` : ''),
        cb.response_body ? h('pre', { class: 'code' }, h('code', {}, pretty(cb.response_body)))
          : h('p', { class: 'muted' }, 'No body.'))));
  return h('li', { class: `cb ${ok ? 'cb-ok' : 'cb-failed'}`, 'data-testid': 'callback' },
    h('div', { class: 'cb-head' },
      h('span', { class: 'tag' }, str(cb.kind || 'callback')),
      h('span', { class: 'mono cb-method' }, str(cb.method)),
      h('span', { class: 'mono cb-url wrap', title: str(cb.url) }, shortUrl),
      outcome(),
      h('span', { class: 'muted' }, `attempt ${str(cb.attempt)}`),
      cb.final && !ok ? h('span', { class: 'tag tag-bad' }, 'gave up') : null,
      h('span', { class: 'cb-time' }, timeEl(cb.at), ' ', h('span', { class: 'offset' }, offsetText(cb.at, m.created_at))),
      replay),
    details);
}

function factsList(m) {
  const rows = [
    ['Message id', m.id], ['Provider id', m.provider_id], ['Account', m.account], ['Channel', m.channel],
    ['Batch', m.batch_id], ['Created', timeEl(m.created_at, { withDate: true })],
  ].filter(([, v]) => v !== null && v !== undefined && v !== '');
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', { class: 'mono' }, v instanceof Node ? v : str(v))]));
}

function otherContent(m) {
  const rest = Object.entries(m.content || {}).filter(([k]) => !RENDERED_KEYS.has(k));
  if (!rest.length) return null;
  return h('div', { class: 'other-content' },
    h('h4', {}, 'Other content'),
    kvTable(rest.map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : v]), 'Content fields'));
}

function renderView() {
  const m = state.messages.get(state.selected);
  if (!m) return;
  // Keep focus and open <details> across re-renders caused by live updates.
  const active = document.activeElement;
  const focusKey = active && els.view.contains(active) ? active.dataset.focus : null;
  const open = new Set([...els.view.querySelectorAll('details[open]')].map((d) => d.dataset.openKey));
  const callbacks = (m.callbacks || []).slice().sort((a, b) => (parseTime(a.at) ?? 0) - (parseTime(b.at) ?? 0));
  const isFinal = FINAL.has(m.status) && !underWay(m);
  const article = h('article', { class: 'message', 'aria-labelledby': 'view-title', 'data-id': m.id },
    h('header', { class: 'view-head' },
      h('button', { type: 'button', class: 'back secondary small', onclick: () => select(null) }, icon('back'), 'Messages'),
      h('h2', { id: 'view-title' }, providerBadge(m.provider), ' ', h('span', { class: 'view-phone' }, str(m.phone)),
        ' ', h('span', { 'data-testid': 'view-status' }, statusBadge(m.status)),
        smsTag(m)),
      factsList(m)),
    h('section', { class: 'actions', 'aria-labelledby': 'force-heading' },
      h('h3', { id: 'force-heading' }, 'Force a status'),
      h('div', { class: 'button-row', role: 'group', 'aria-labelledby': 'force-heading' },
        FORCE.map(([status, label]) => h('button', {
          type: 'button', class: `force force-${status}`, 'data-focus': `force-${status}`,
          disabled: isFinal && !(m.status === 'delivered' && status === 'seen') ? true : null,
          onclick: () => forceStatus(m.id, status, label),
        }, label))),
      isFinal ? h('p', { class: 'muted small-print' }, m.status === 'delivered'
        ? 'Delivered is final for the sender; only "Seen" can still follow.'
        : 'This message is final; its status can no longer change.') : null),
    h('div', { class: 'view-grid' },
      h('section', { class: 'phone-section', 'aria-labelledby': 'phone-heading' },
        h('h3', { id: 'phone-heading' }, 'On the phone'),
        phoneView(m),
        otherContent(m)),
      h('section', { 'aria-labelledby': 'timeline-heading' },
        h('h3', { id: 'timeline-heading' }, 'Status timeline ', h('span', { class: 'muted' }, '(mock clock)')),
        timeline(m))),
    h('section', { 'aria-labelledby': 'callbacks-heading' },
      h('h3', { id: 'callbacks-heading' }, `Callbacks and reports (${callbacks.length})`),
      callbacks.length ? h('ol', { class: 'callbacks' }, callbacks.map((cb) => callbackCard(cb, m)))
        : h('p', { class: 'muted' }, 'None sent yet.')),
    h('section', { 'aria-labelledby': 'raw-heading' },
      h('h3', { id: 'raw-heading' }, 'Raw request as received'),
      h('pre', { class: 'code', 'data-testid': 'raw-request' },
        h('code', {}, 'raw_request' in m ? pretty(m.raw_request ?? null) : 'Loading the request body…'))),
    m.meta && Object.keys(m.meta).length ? h('details', { class: 'meta', 'data-open-key': 'meta' },
      h('summary', {}, 'Provider details (meta)'),
      h('pre', { class: 'code' }, h('code', {}, pretty(m.meta)))) : null);
  const another = els.view.dataset.id !== m.id;
  els.view.replaceChildren(article);
  els.view.dataset.id = m.id;
  // Another message opens at its top; a live update of the one shown keeps the reader's place.
  if (another) els.view.scrollTop = 0;
  for (const d of els.view.querySelectorAll('details')) if (open.has(d.dataset.openKey)) d.open = true;
  if (focusKey) {
    const again = els.view.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`);
    if (again && !again.disabled) again.focus();
    else els.view.focus();
  }
}

function renderMissing(id) {
  els.view.replaceChildren(h('div', { class: 'placeholder' },
    h('p', {}, 'Message ', h('code', {}, str(id)), ' is not in the inbox (it may have been cleared).'),
    h('button', { type: 'button', class: 'secondary', onclick: () => select(null) }, 'Back to the messages')));
  delete els.view.dataset.id;
}

function renderPlaceholder() {
  els.view.replaceChildren(h('div', { class: 'placeholder' },
    h('p', {}, 'Select a message to see it as the phone shows it, its status timeline, the callbacks it produced and '
      + 'the request as it was received.')));
  delete els.view.dataset.id;
}

// --- selection (kept in the URL hash, so a reload or a shared link opens the same message) ------------------------

function idFromHash() {
  const m = /^#m=(.+)$/.exec(window.location.hash);
  if (!m) return null;
  let id;
  try {
    id = decodeURIComponent(m[1]);
  } catch {
    return null; // not valid percent-encoding (#m=%): no selection, the page still starts
  }
  return ID_RE.test(id) ? id : null;
}

async function select(id, { focus = false } = {}) {
  const hash = id ? `#m=${encodeURIComponent(id)}` : '';
  if (window.location.hash !== hash) {
    history.replaceState(null, '', hash || window.location.pathname + window.location.search);
  }
  state.selected = id;
  document.body.classList.toggle('has-selection', Boolean(id));
  if (!id) {
    renderPlaceholder();
    render();
    const first = els.list.querySelector('button.item');
    if (focus && first) first.focus();
    return;
  }
  if (!state.messages.has(id)) {
    let found = null;
    try {
      found = await fetchWhole(id);
    } catch {
      // the server has no such message
    }
    if (!found) {
      renderMissing(id);
      return;
    }
    upsert(found);
  }
  dirty.add(id);
  render();
  if (focus) els.view.focus();
  const shown = state.messages.get(id);
  if (shown && !('raw_request' in shown)) {
    // A summary without its batch's big body: the message itself has it.
    try {
      const whole = await fetchWhole(id);
      if (whole) upsert(whole);
    } catch {
      // cleared meanwhile: the list's next update says so
    }
  }
}

/** The message as GET /_mock/messages/{id} has it, body and all; null when a clear or reset was read while the
 * answer travelled (the server has it no more: it must not come back). Throws when the server has no such message. */
async function fetchWhole(id) {
  const clears = state.clears;
  const found = await api('GET', `/messages/${encodeURIComponent(id)}`);
  return state.clears === clears ? found : null;
}

// --- actions -----------------------------------------------------------------------------------------------------

async function forceStatus(id, status, label) {
  try {
    const updated = await api('POST', `/messages/${encodeURIComponent(id)}/status`, { status });
    upsert(updated);
    notify(`Status forced to ${label.toLowerCase()}${status !== label.toLowerCase() ? ` (${status})` : ''}.`);
  } catch (err) {
    notify(`Could not force ${label.toLowerCase()}: ${err.message}`, 'error');
  }
}

async function replayCallback(cbId) {
  try {
    await api('POST', `/callbacks/${encodeURIComponent(cbId)}/replay`, {});
    notify(`Callback ${cbId} re-sent; the new attempt appears below when it is answered.`);
  } catch (err) {
    notify(`Could not re-send ${cbId}: ${err.message}`, 'error');
  }
}

async function clearInbox() {
  try {
    const out = await api('DELETE', '/messages');
    state.loadGen += 1; // a list fetched before the clear must not bring the messages back
    state.clears += 1;
    state.messages.clear();
    state.touched.clear();
    state.total = 0;
    select(null);
    const n = out && typeof out.deleted === 'number' ? out.deleted : 0;
    notify(`Inbox cleared (${n} message${n === 1 ? '' : 's'}).`);
  } catch (err) {
    notify(`Could not clear the inbox: ${err.message}`, 'error');
  }
}

async function advanceClock(event) {
  event.preventDefault();
  const seconds = Number(els.advanceSeconds.value);
  if (!Number.isFinite(seconds) || seconds < 0) {
    notify('Seconds must be a number of 0 or more.', 'error');
    els.advanceSeconds.focus();
    return;
  }
  els.advanceButton.disabled = true;
  try {
    const out = await api('POST', '/clock/advance', { seconds });
    showClock(out.now);
    notify(`Clock advanced by ${seconds} s.`);
    if (!state.live) loadAll(); // without the event stream, fetch what the advance changed
  } catch (err) {
    notify(`Could not advance the clock: ${err.message}`, 'error');
  } finally {
    els.advanceButton.disabled = false;
  }
}

// --- start -------------------------------------------------------------------------------------------------------

function init() {
  Object.assign(els, {
    conn: $('conn'), connText: $('conn-text'), notice: $('notice'), announce: $('announce'),
    clockNow: $('clock-now'), clockMode: $('clock-mode'), advanceSeconds: $('advance-seconds'),
    advanceButton: $('advance-button'), list: $('list'), listStatus: $('list-status'), empty: $('empty'),
    view: $('view'), counts: $('counts'), filters: $('filters'),
    fText: $('f-text'), fProvider: $('f-provider'), fPhone: $('f-phone'), fStatus: $('f-status'),
  });
  buildCounts();
  els.filters.addEventListener('input', () => render());
  els.filters.addEventListener('change', () => render());
  els.filters.addEventListener('submit', (e) => e.preventDefault());
  els.filters.addEventListener('reset', () => setTimeout(render, 0));
  els.list.addEventListener('click', (e) => {
    const button = e.target.closest('button.item');
    if (button) select(button.dataset.id);
  });
  els.list.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const buttons = [...els.list.querySelectorAll('button.item')];
    const i = buttons.indexOf(document.activeElement);
    const next = buttons[e.key === 'ArrowDown' ? i + 1 : i - 1];
    if (next) {
      e.preventDefault();
      next.focus();
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.selected && !$('clear-dialog').open) select(null, { focus: true });
  });
  $('clock-form').addEventListener('submit', advanceClock);
  const dialog = $('clear-dialog');
  $('clear-button').addEventListener('click', () => dialog.showModal());
  dialog.addEventListener('close', () => {
    if (dialog.returnValue === 'clear') clearInbox();
    dialog.returnValue = '';
  });
  window.addEventListener('hashchange', () => select(idFromHash()));
  const initial = idFromHash();
  if (initial) select(initial);
  loadAll();
  loadClock();
  setInterval(() => {
    loadClock();
    if (state.live) checkTotal();
  }, CLOCK_POLL_MS);
  connect();
}

init();
