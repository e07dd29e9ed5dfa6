// Search: results as you type across followed and own shares (never the network), with the
// matched parts highlighted, filters (share, trust, type, size), pages, and a download button
// on every hit.

import {
  html, useState, useEffect, useRef, useAsync, useEventsReload, ErrorBox, Spinner, Badge, Field, ActionButton, Dialog,
  FolderPicker, toast,
} from '../components.js';
import * as api from '../api.js';
import * as fmt from '../format.js';

/** Splits `name` into plain and matched parts; `ranges` are UTF-8 byte offsets. */
export function highlightParts(name, ranges) {
  const bytes = new TextEncoder().encode(name);
  const dec = new TextDecoder();
  const rs = [...(ranges || [])]
    .map(([a, b]) => [Math.max(0, a), Math.min(bytes.length, b)])
    .filter(([a, b]) => a < b)
    .sort((x, y) => x[0] - y[0]);
  const parts = [];
  let at = 0;
  for (const [a, b] of rs) {
    if (a < at) continue;
    if (a > at) parts.push({ text: dec.decode(bytes.slice(at, a)), hit: false });
    parts.push({ text: dec.decode(bytes.slice(a, b)), hit: true });
    at = b;
  }
  if (at < bytes.length) parts.push({ text: dec.decode(bytes.slice(at)), hit: false });
  return parts;
}

const TYPES = [
  ['', 'Any type'], ['video', 'Video'], ['audio', 'Audio'], ['image', 'Images'], ['text', 'Text'], ['application', 'Applications and documents'],
];

export function Search() {
  const [q, setQ] = useState('');
  const [share, setShare] = useState('');
  const [trust, setTrust] = useState(['trusted', 'normal']);
  const [type, setType] = useState('');
  const [minSize, setMinSize] = useState('');
  const [maxSize, setMaxSize] = useState('');
  const [cursors, setCursors] = useState(['']); // cursor of each page seen; the last is the current page
  const [res, setRes] = useState(null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [dl, setDl] = useState(null);
  const [reindexed, setReindexed] = useState(0);
  const shares = useAsync(async () => {
    const [subs, own] = await Promise.all([api.get('/api/subscriptions'), api.get('/api/shares')]);
    return [...own.map((s) => ({ id: s.share_id, name: (s.title || s.name) + ' (yours)' })), ...subs.map((s) => ({ id: s.share_id, name: fmt.shareName(s) }))];
  });
  useEventsReload(['index_updated'], () => setReindexed((n) => n + 1), 500);
  const names = new Map((shares.data || []).map((s) => [s.id, s.name]));

  const min = fmt.parseSize(minSize);
  const max = fmt.parseSize(maxSize);
  const UNIT_HINT = 'A size is a number with an optional unit: 500k, 20M, 1.5G.';
  const minErr = Number.isNaN(min) ? UNIT_HINT : null;
  const maxErr = Number.isNaN(max)
    ? UNIT_HINT
    : min !== null && max !== null && !Number.isNaN(min) && min > max
      ? 'This is smaller than the smallest size.'
      : null;
  const sizeErr = minErr || maxErr;
  const trustErr = trust.length === 0 ? 'Choose at least one trust level.' : null;
  const cursor = cursors[cursors.length - 1];
  const ctrl = useRef(null);

  // New words or filters start again at the first page.
  useEffect(() => setCursors(['']), [q, share, trust.join(), type, minSize, maxSize]);
  useEffect(() => {
    if (sizeErr || trustErr) return;
    if (ctrl.current) ctrl.current.abort();
    const c = new AbortController();
    ctrl.current = c;
    // Wait for a pause in typing before asking.
    const t = setTimeout(async () => {
      setBusy(true);
      try {
        const r = await api.get(
          '/api/search',
          { q, share, trust: trust.join(','), type, min_size: min ?? '', max_size: max ?? '', limit: 20, cursor },
          { signal: c.signal },
        );
        setRes(r);
        setErr(null);
      } catch (e) {
        if (e.name === 'AbortError') return;
        setErr(e);
        setRes(null);
      } finally {
        if (ctrl.current === c) setBusy(false);
      }
    }, 180);
    return () => {
      clearTimeout(t);
      c.abort();
    };
  }, [q, share, trust.join(), type, min, max, cursor, reindexed, !!sizeErr, !!trustErr]);

  const unavailable = err && err.status === 503;
  const page = cursors.length;
  return html`<div class="page-head"><h1 tabindex="-1">Search</h1>
      <span class="muted">Searches the shares you follow and your own, never the whole network.</span></div>
    <section class="card" role="search" aria-label="Search your shares">
      <${Field} label="Words">
        ${(id) => html`<input id=${id} type="search" value=${q} placeholder="e.g. beach 2024" autocomplete="off" name="q"
          onInput=${(e) => setQ(e.target.value)} />`}
      <//>
      <div class="filters">
        <${Field} label="Share">
          ${(id) => html`<select id=${id} value=${share} onChange=${(e) => setShare(e.target.value)}>
            <option value="">All shares</option>
            ${(shares.data || []).map((s) => html`<option key=${s.id} value=${s.id}>${s.name}</option>`)}
          </select>`}
        <//>
        <${Field} label="Type">
          ${(id) => html`<select id=${id} value=${type} onChange=${(e) => setType(e.target.value)}>
            ${TYPES.map(([v, l]) => html`<option key=${v} value=${v}>${l}</option>`)}</select>`}
        <//>
        <${Field} label="At least" error=${minErr}>
          ${(id, desc, bad) => html`<input id=${id} type="text" value=${minSize} placeholder="e.g. 10M" aria-describedby=${desc}
            aria-invalid=${bad ? 'true' : undefined} onInput=${(e) => setMinSize(e.target.value)} />`}
        <//>
        <${Field} label="At most" error=${maxErr}>
          ${(id, desc, bad) => html`<input id=${id} type="text" value=${maxSize} placeholder="e.g. 2G" aria-describedby=${desc}
            aria-invalid=${bad ? 'true' : undefined} onInput=${(e) => setMaxSize(e.target.value)} />`}
        <//>
      </div>
      <fieldset>
        <legend>Trust</legend>
        <div class="row">
          ${['trusted', 'normal', 'untrusted'].map(
            (t) => html`<label class="check" key=${t}><input type="checkbox" checked=${trust.includes(t)}
              onChange=${(e) => setTrust(e.target.checked ? [...trust, t] : trust.filter((x) => x !== t))} /> ${t[0].toUpperCase() + t.slice(1)}</label>`,
          )}
        </div>
        ${trustErr ? html`<div class="field-error">${trustErr}</div>` : null}
      </fieldset>
    </section>
    <section class="card" aria-labelledby="res-h" aria-busy=${busy ? 'true' : 'false'}>
      <div class="row-between">
        <h2 id="res-h">Results</h2>
        <span role="status" class="muted">${busy ? html`<${Spinner} label="Searching…" />` : res ? `${res.total} match${res.total === 1 ? '' : 'es'}` : ''}</span>
      </div>
      ${unavailable
        ? html`<div class="msg msg-warn" role="alert" data-testid="search-unavailable">Search is not available in this build of trove yet (${err.message}).
            You can still browse every share in Discover.</div>`
        : html`<${ErrorBox} error=${err} title="Search failed" />`}
      ${res && res.hits.length === 0 ? html`<p class="muted">No file matches${q ? html` “${q}”` : null}.</p>` : null}
      <ul class="hits" aria-label="Matches">
        ${(res ? res.hits : []).map(
          (h) => html`<li class="hit" key=${h.share_id + h.path}>
            <div>
              <div class="hit-name">${highlightParts(h.name, h.highlight).map((p, i) => (p.hit ? html`<mark key=${i}>${p.text}</mark>` : p.text))}</div>
              <div class="hit-meta">${h.path} · ${fmt.bytes(h.size)} · ${fmt.kind(h.mime, h.name)} · in${' '}
                <a href=${'#/discover/' + h.share_id}>${names.get(h.share_id) || fmt.short(h.share_id)}</a>
                ${h.tags.map((t) => html` <${Badge} key=${t}>${t}<//>`)}</div>
            </div>
            <button type="button" class="btn btn-small" onClick=${() => setDl(h)} aria-label=${'Download ' + h.name}>Download</button>
          </li>`,
        )}
      </ul>
      ${res && (page > 1 || res.next_cursor)
        ? html`<nav class="pager" aria-label="Result pages">
            <button type="button" class="btn btn-small" disabled=${page <= 1} onClick=${() => setCursors(cursors.slice(0, -1))}>← Previous</button>
            <span>Page ${page}</span>
            <button type="button" class="btn btn-small" disabled=${!res.next_cursor} onClick=${() => setCursors([...cursors, res.next_cursor])}>Next →</button>
          </nav>`
        : null}
    </section>
    <${HitDownload} hit=${dl} onClose=${() => setDl(null)} />`;
}

function HitDownload({ hit, onClose }) {
  const [dir, setDir] = useState('');
  const [picking, setPicking] = useState(false);
  const [err, setErr] = useState(null);
  useEffect(() => {
    if (hit && !dir) api.get('/api/fs').then((l) => setDir((d) => d || l.downloads || l.home || '')).catch(() => null);
    setErr(null);
  }, [hit]);
  return html`<${Dialog} open=${!!hit} onClose=${onClose} title=${hit ? 'Download ' + hit.name : ''}>
    ${hit
      ? html`<p>${hit.path} · ${fmt.bytes(hit.size)}</p>
        <${Field} label="Into the folder">
          ${(id) => html`<div class="row" style="flex-wrap:nowrap"><input id=${id} type="text" value=${dir} onInput=${(e) => setDir(e.target.value)} />
            <button type="button" class="btn" onClick=${() => setPicking(true)}>Browse…</button></div>`}
        <//>
        <${ErrorBox} error=${err} />
        <div class="actions">
          <button type="button" class="btn" onClick=${onClose}>Cancel</button>
          <${ActionButton} class="btn-primary" onClick=${async () => {
            try {
              const r = await api.post('/api/downloads/start', { share: hit.share_id, paths: [hit.path], out_dir: dir.trim() });
              const failed = r.settled.find((f) => f.status === 'failed');
              if (failed) return setErr(failed.error);
              toast(r.started.length ? 'Download started' : 'Already downloaded');
              onClose();
            } catch (e) {
              setErr(e);
            }
          }}>Download<//>
        </div>
        <${FolderPicker} open=${picking} mode="dir" start=${dir || undefined} onClose=${() => setPicking(false)} onPick=${(p) => {
          setDir(p[0]);
          setPicking(false);
        }} />`
      : null}
  <//>`;
}
