// The local HTTP API of `trove serve` (docs/API.md), as the page uses it: the token, JSON
// requests with readable errors, and the server-sent event stream read through fetch() so
// the token travels in the Authorization header, never in a URL.

const TOKEN_KEY = 'trove.token';

/** Takes `#token=…` out of the address (into sessionStorage); returns the token in use. */
export function takeToken() {
  const h = location.hash;
  if (h.startsWith('#token=')) {
    // `#token=T&go=/discover/…` opens a page after taking the token (the desktop app does).
    const [tpart, go] = h.slice('#token='.length).split('&go=');
    const t = decodeURIComponent(tpart).trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    const page = go ? decodeURIComponent(go) : '';
    history.replaceState(null, '', location.pathname + '#' + (page.startsWith('/') ? page : '/dashboard'));
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t.trim());
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** An error answer of the API: `kind` (invalid, not_found, unavailable, …), `status`. */
export class ApiError extends Error {
  constructor(status, kind, message) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

const listeners = { unauthorized: new Set() };

/** Calls `f` whenever the API answers 401 (the token is wrong or gone). */
export function onUnauthorized(f) {
  listeners.unauthorized.add(f);
  return () => listeners.unauthorized.delete(f);
}

/** A request: `GET path` with `query`, or `POST path` with a JSON `body`. */
export async function request(method, path, { query, body, signal } = {}) {
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    }
    const s = q.toString();
    if (s) url += '?' + s;
  }
  const headers = { Authorization: 'Bearer ' + (token() || '') };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'offline', 'The trove node does not answer. Is `trove serve` still running?');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && data.error;
    const e = new ApiError(
      res.status,
      (err && err.kind) || 'internal',
      (err && err.message) || `The node answered ${res.status} ${res.statusText}.`,
    );
    if (res.status === 401) listeners.unauthorized.forEach((f) => f(e));
    throw e;
  }
  return data;
}

export const get = (path, query, opts = {}) => request('GET', path, { ...opts, query });
export const post = (path, body, opts = {}) => request('POST', path, { ...opts, body: body ?? {} });

// --- the event stream ------------------------------------------------------------------

const handlers = new Map(); // type -> Set of functions; '*' gets every event
let connState = 'connecting';
const stateListeners = new Set();
let stream = null;

/** Calls `f(event)` for each node event of `type` ('*': all); returns an unsubscribe. */
export function on(type, f) {
  if (!handlers.has(type)) handlers.set(type, new Set());
  handlers.get(type).add(f);
  return () => handlers.get(type).delete(f);
}

/** Calls `f(state)` when the stream connects ('open') or drops ('connecting', 'closed'). */
export function onConnection(f) {
  stateListeners.add(f);
  f(connState);
  return () => stateListeners.delete(f);
}

function setState(s) {
  if (s === connState) return;
  connState = s;
  stateListeners.forEach((f) => f(s));
}

function dispatch(ev) {
  for (const key of [ev.type, '*']) {
    const hs = handlers.get(key);
    if (hs) hs.forEach((f) => {
      try {
        f(ev);
      } catch (e) {
        console.error('event handler failed', e);
      }
    });
  }
}

/** Parses server-sent events out of text chunks. */
export class SseParser {
  constructor(emit) {
    this.emit = emit;
    this.buf = '';
    this.data = [];
    this.type = '';
  }
  push(chunk) {
    this.buf += chunk;
    let i;
    while ((i = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buf.slice(0, i);
      const nl = this.buf.startsWith('\r\n', i) ? 2 : 1;
      this.buf = this.buf.slice(i + nl);
      this.line(line);
    }
  }
  line(line) {
    if (line === '') {
      if (this.data.length) this.emit(this.type || 'message', this.data.join('\n'));
      this.data = [];
      this.type = '';
      return;
    }
    if (line.startsWith(':')) return;
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? '' : line.slice(c + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.type = value;
  }
}

/** Connects to /api/events and keeps reconnecting (with a growing pause) until stopped. */
export function startEvents() {
  if (stream) return;
  stream = { stopped: false, ctrl: null };
  const s = stream;
  let delay = 500;
  (async () => {
    while (!s.stopped) {
      s.ctrl = new AbortController();
      try {
        const res = await fetch('/api/events', {
          headers: { Authorization: 'Bearer ' + (token() || ''), Accept: 'text/event-stream' },
          signal: s.ctrl.signal,
          cache: 'no-store',
        });
        if (res.status === 401) {
          listeners.unauthorized.forEach((f) => f(new ApiError(401, 'unauthorized', 'The API token was refused.')));
          setState('closed');
          return;
        }
        if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
        setState('open');
        delay = 500;
        dispatch({ type: 'stream_open' });
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        const parser = new SseParser((_, data) => {
          try {
            dispatch(JSON.parse(data));
          } catch (e) {
            console.warn('bad event', data, e);
          }
        });
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(dec.decode(value, { stream: true }));
        }
      } catch (e) {
        if (s.stopped) return;
      }
      if (s.stopped) return;
      setState('connecting');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  })();
}

export function stopEvents() {
  if (!stream) return;
  stream.stopped = true;
  if (stream.ctrl) stream.ctrl.abort();
  stream = null;
  setState('closed');
}
