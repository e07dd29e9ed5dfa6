// Downloads: every file with its progress, rate, time left and peers (live from the event
// stream), the total, pause / resume / cancel, errors in words, and "open folder".

import { html, useState, useAsync, useEventsReload, ErrorBox, Spinner, Badge, Progress, ActionButton, Confirm, toast, EmptyRow, native } from '../components.js';
import * as api from '../api.js';
import * as fmt from '../format.js';
import * as store from '../store.js';

const STATE_TEXT = {
  queued: 'Waiting',
  running: 'Downloading',
  paused: 'Paused',
  complete: 'Done',
  failed: 'Failed',
  disk_full: 'Disk full',
};

/** A download with what the events said since the list was read. */
function merge(d) {
  const live = store.downloads.get(d.id);
  const out = { ...d, rate: 0, peers: null };
  if (live) {
    if (live.done) {
      out.state = 'complete';
      out.verified_bytes = d.size;
    } else if (live.error && d.state !== 'paused') {
      out.state = d.state === 'running' || d.state === 'queued' ? 'failed' : d.state;
      out.error = out.error || live.error;
    } else if (d.state === 'running' || d.state === 'queued') {
      out.verified_bytes = Math.max(d.verified_bytes, live.bytes_done || 0);
      if (Date.now() - live.at < 3000) {
        out.rate = live.rate_bps || 0;
        out.peers = live.peers;
        out.state = 'running';
      }
    }
  }
  return out;
}

function explain(d) {
  const e = d.error || '';
  if (d.state === 'disk_full' || /^disk full/i.test(e)) return 'The disk is full (or below the free-space reserve). Free some space, then resume: verified parts are kept.';
  if (/no provider|could be found|unreachable|no peer/i.test(e)) return `No peer that has this file could be reached (${e}). Resume when the publisher is online.`;
  if (/already exists/i.test(e)) return `A different file is already there (${e}).`;
  return e;
}

export function Downloads() {
  const list = useAsync(() => api.get('/api/downloads'));
  store.useLive();
  useEventsReload(['download_complete', 'download_failed', 'stream_open'], list.reload, 250);
  const [err, setErr] = useState(null);
  const [cancel, setCancel] = useState(null);
  // A progress event of a download not listed yet (started elsewhere): read the list again.
  useEventsReload(['download_progress'], () => {
    if (list.data && [...store.downloads.keys()].some((id) => !list.data.some((d) => d.id === id))) list.reload();
  }, 1000);
  const rows = (list.data || []).map(merge);
  const active = rows.filter((d) => ['running', 'queued', 'paused', 'failed', 'disk_full'].includes(d.state));
  const total = active.reduce((a, d) => a + d.size, 0);
  const done = active.reduce((a, d) => a + d.verified_bytes, 0);
  const rate = rows.reduce((a, d) => a + d.rate, 0);
  const act = async (what, d) => {
    setErr(null);
    try {
      await api.post('/api/downloads/' + what, { id: d.id });
      if (what === 'cancel') store.downloads.delete(d.id);
      if (what === 'resume') store.downloads.delete(d.id);
      list.reload();
    } catch (e) {
      setErr(e);
    }
  };
  const open = async (d) => {
    setErr(null);
    try {
      if (native.opener) {
        // In the desktop app: the file manager with the file selected.
        await native.opener.revealItemInDir(d.target);
        return;
      }
      const r = await api.post('/api/downloads/open', { id: d.id });
      if (r.opened) toast('Opened ' + r.folder);
      else setErr(r.error);
    } catch (e) {
      setErr(e);
    }
  };
  return html`<div class="page-head"><h1 tabindex="-1">Downloads</h1></div>
    <section class="card" aria-labelledby="total-h">
      <h2 id="total-h">In progress</h2>
      ${active.length
        ? html`<${Progress} value=${done} max=${total} label="Total progress" />
          <p class="muted" data-testid="downloads-total">${fmt.bytes(done)} of ${fmt.bytes(total)} · ${fmt.rate(rate)}
            ${rate > 0 ? html` · ${fmt.duration((total - done) / rate)} left` : null} · ${fmt.plural(active.length, 'file')}</p>`
        : html`<p class="muted">Nothing is downloading.</p>`}
    </section>
    <${ErrorBox} error=${err} />
    <${ErrorBox} error=${list.error} />
    <section class="card" aria-labelledby="dl-h">
      <h2 id="dl-h">All downloads</h2>
      ${!list.data && !list.error ? html`<${Spinner} />` : null}
      <div class="table-wrap">
        <table class="stacked" data-testid="downloads">
          <caption class="sr-only">Downloads, newest first</caption>
          <thead><tr><th>File</th><th>State</th><th>Progress</th><th class="num">Rate</th><th class="num">Time left</th><th class="num">Peers</th><th><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            ${list.data && rows.length === 0 ? html`<${EmptyRow} cols="7">No downloads yet. Choose files in Discover or Search.<//>` : null}
            ${rows.map(
              (d) => html`<tr key=${d.id} data-download=${d.id} data-state=${d.state}>
                <td data-label="File"><div class="list-title">${d.path}</div><div class="muted mono" title="Saved as">${d.target}</div>
                  ${d.error && d.state !== 'complete' ? html`<div class="field-error" role="alert">${explain(d)}</div>` : null}</td>
                <td data-label="State"><${Badge} kind=${d.state === 'complete' ? 'ok' : d.state === 'failed' || d.state === 'disk_full' ? 'error' : 'plain'}>${STATE_TEXT[d.state] || d.state}<//></td>
                <td data-label="Progress"><${Progress} value=${d.verified_bytes} max=${d.size} label=${'Progress of ' + d.path} />
                  <div class="muted">${fmt.bytes(d.verified_bytes)} of ${fmt.bytes(d.size)}</div></td>
                <td data-label="Rate" class="num">${d.state === 'running' ? fmt.rate(d.rate) : '–'}</td>
                <td data-label="Time left" class="num">${d.state === 'running' && d.rate > 0 ? fmt.duration((d.size - d.verified_bytes) / d.rate) : '–'}</td>
                <td data-label="Peers" class="num">${d.peers ?? '–'}</td>
                <td data-label="Actions"><div class="row">
                  ${d.state === 'running' || d.state === 'queued'
                    ? html`<${ActionButton} class="btn-small" onClick=${() => act('pause', d)} aria-label=${'Pause ' + d.path}>Pause<//>`
                    : null}
                  ${['paused', 'failed', 'disk_full'].includes(d.state)
                    ? html`<${ActionButton} class="btn-small" onClick=${() => act('resume', d)} aria-label=${'Resume ' + d.path}>Resume<//>`
                    : null}
                  ${d.state !== 'complete'
                    ? html`<button type="button" class="btn btn-small" onClick=${() => setCancel(d)} aria-label=${'Cancel ' + d.path}>Cancel</button>`
                    : null}
                  <${ActionButton} class="btn-small" onClick=${() => open(d)} aria-label=${'Open the folder of ' + d.path}>Open folder<//>
                </div></td>
              </tr>`,
            )}
          </tbody>
        </table>
      </div>
    </section>
    <${Confirm} open=${!!cancel} title="Cancel this download?" danger confirmLabel="Cancel download" onClose=${() => setCancel(null)}
      onConfirm=${async () => {
        const d = cancel;
        setCancel(null);
        await act('cancel', d);
      }}>
      <p>The part downloaded so far of <strong>${cancel && cancel.path}</strong> is deleted.</p>
    <//>`;
}
