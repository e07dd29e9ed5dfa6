// Discover: followed shares and the public shares of LAN peers and joined communities in
// one list; subscribe by link or id; the selected share as a file tree with tri-state
// folder checkboxes and "Download N files · size" into a chosen folder.

import {
  html, useState, useEffect, useLayoutEffect, useRef, useAsync, useEvents, useEventsReload, ErrorBox, Note, Spinner, Badge, Field,
  ActionButton, CopyButton, FolderPicker, Confirm, Dialog, toast, copyText,
} from '../components.js';
import * as api from '../api.js';
import * as fmt from '../format.js';
import * as store from '../store.js';
import { Selection } from '../tree.js';

/** Followed shares, nearby public shares and community shares, merged by share id. */
function useShareList() {
  const subs = useAsync(() => api.get('/api/subscriptions'));
  const nearby = useAsync(() => api.get('/api/browse'));
  const comm = useAsync(async () => {
    const list = await api.get('/api/communities').catch(() => []);
    const pages = await Promise.all(
      list.map((c) =>
        api
          .get('/api/communities/browse', { community: c.share_id })
          .then((p) => p.shares.filter((s) => !s.is_own).map((s) => ({ ...s, community: c.name || fmt.short(c.share_id) })))
          .catch(() => []),
      ),
    );
    return pages.flat();
  });
  useEventsReload(['manifest_updated', 'sync_failed', 'stream_open'], subs.reload);
  useEventsReload(['community_share_seen', 'community_refreshed', 'community_joined', 'community_left'], comm.reload);
  // A LAN peer announces itself every few seconds: ask again only when a new one appears.
  const lanSeen = useRef(new Set());
  const [lanNew, setLanNew] = useState(0);
  useEvents(['lan_peer'], (e) => {
    if (!lanSeen.current.has(e.addr)) {
      lanSeen.current.add(e.addr);
      setLanNew((n) => n + 1);
    }
  });
  useEffect(() => {
    if (!lanNew) return;
    const t = setTimeout(nearby.reload, 1500);
    return () => clearTimeout(t);
  }, [lanNew]);

  const byId = new Map();
  const add = (id, patch, source) => {
    const e = byId.get(id) || { share_id: id, sources: [] };
    for (const [k, v] of Object.entries(patch)) if (v !== null && v !== undefined && (e[k] === undefined || e[k] === null)) e[k] = v;
    if (!e.sources.includes(source)) e.sources.push(source);
    byId.set(id, e);
  };
  for (const s of subs.data || []) {
    add(s.share_id, { title: s.title, seq: s.seq, subscribed: true, sub: s }, 'Subscribed');
  }
  for (const b of nearby.data || []) {
    add(b.share_id, { title: b.title, description: b.description, link: b.link, remote_seq: b.seq }, 'Nearby');
  }
  for (const c of comm.data || []) {
    add(c.share_id, { title: c.title, description: c.description, link: c.link, remote_seq: c.seq }, 'Community ' + c.community);
  }
  const list = [...byId.values()];
  for (const e of list) {
    e.subscribed = !!e.subscribed;
    e.latest = Math.max(e.seq ?? -1, e.remote_seq ?? -1);
    if (e.latest < 0) e.latest = null;
    store.noteFirstSeen(e.share_id, e.seq ?? e.remote_seq);
  }
  list.sort((a, b) => Number(b.subscribed) - Number(a.subscribed) || fmt.shareName(a).localeCompare(fmt.shareName(b)));
  return { list, subs, nearby, comm };
}

export function Discover({ arg }) {
  const { list, subs, nearby, comm } = useShareList();
  store.useSeen();
  // `#/discover/scp2p://s/…`: a link opened from outside (the desktop app, a bookmark).
  const link = arg && arg.startsWith('scp2p://') ? arg : null;
  const shareArg = link ? '' : arg;
  const selected = list.find((s) => s.share_id === shareArg) || (shareArg ? { share_id: shareArg, sources: [], subscribed: false } : null);
  const select = (id) => (location.hash = '#/discover/' + id);
  return html`<div class="page-head"><h1 tabindex="-1">Discover</h1></div>
    <${LinkDialog} link=${link} onClose=${() => (location.hash = '#/discover')} onSubscribed=${(r) => {
      subs.reload();
      select(r.share_id);
    }} />
    <div class="split">
      <div>
        <${SubscribeForm} onSubscribed=${(r) => {
          subs.reload();
          select(r.share_id);
        }} />
        <section class="card" aria-labelledby="shares-h">
          <div class="row-between">
            <h2 id="shares-h">Shares</h2>
            <${ActionButton} class="btn-small" busyLabel="Looking…" onClick=${async () => {
              nearby.reload();
              comm.reload();
              await api.post('/api/sync').catch(() => null);
              subs.reload();
            }}>Refresh<//>
          </div>
          <${ErrorBox} error=${subs.error} />
          ${nearby.loading ? html`<p><${Spinner} label="Asking peers nearby for their public shares…" /></p>` : null}
          ${nearby.error ? html`<p class="muted">Peers nearby could not be asked: ${nearby.error.message}</p>` : null}
          ${list.length === 0 && !subs.loading
            ? html`<p class="muted">Nothing here yet. Paste a share link above; public shares of peers on your LAN and in your communities appear here too.</p>`
            : null}
          <ul class="list" aria-label="Shares">
            ${list.map((s) => {
              const isNew = store.isNew(s.share_id, s.latest);
              return html`<li key=${s.share_id}>
                <button type="button" class="list-item" aria-current=${selected && selected.share_id === s.share_id ? 'true' : undefined}
                  onClick=${() => select(s.share_id)} data-share=${s.share_id}>
                  <div class="list-title">${fmt.shareName(s)}</div>
                  <div class="list-meta">
                    ${s.latest !== null ? html`<${Badge} kind="seq" title="revision">rev ${s.latest}<//>` : html`<${Badge}>not fetched<//>`}
                    ${isNew ? html`<${Badge} kind="new">new revision<//>` : null}
                    ${s.sub && s.sub.last_error ? html`<${Badge} kind="error" title=${s.sub.last_error}>sync failed<//>` : null}
                    ${s.sources.map((src) => html`<span key=${src}>${src}</span>`)}
                  </div>
                </button>
              </li>`;
            })}
          </ul>
        </section>
      </div>
      <div>
        ${selected
          ? html`<${ShareView} key=${selected.share_id} share=${selected} onChanged=${() => subs.reload()} />`
          : html`<div class="card"><p class="muted">Choose a share to see its files.</p></div>`}
      </div>
    </div>`;
}

/** Asks whether to subscribe to a link that was opened from outside the page. */
function LinkDialog({ link, onClose, onSubscribed }) {
  const [trust, setTrust] = useState('normal');
  const [err, setErr] = useState(null);
  useEffect(() => setErr(null), [link]);
  return html`<${Dialog} open=${!!link} title="Subscribe to this share?" onClose=${onClose}>
    <p>Someone gave you a share link. Subscribing fetches its catalog and follows its new revisions.</p>
    <p class="mono" data-testid="opened-link">${link}</p>
    <${Field} label="Trust" hint="Search shows trusted and normal shares by default">
      ${(id, desc) => html`<select id=${id} value=${trust} aria-describedby=${desc} onChange=${(e) => setTrust(e.target.value)}>
        <option value="trusted">Trusted</option><option value="normal">Normal</option><option value="untrusted">Untrusted</option>
      </select>`}
    <//>
    <${ErrorBox} error=${err} title="Could not subscribe" />
    <div class="actions">
      <button type="button" class="btn" onClick=${onClose}>Cancel</button>
      <${ActionButton} class="btn-primary" busyLabel="Subscribing…" onClick=${async () => {
        try {
          const r = await api.post('/api/subscribe', { target: link, trust });
          toast(r.error ? 'Subscribed; the catalog is not reachable yet' : `Subscribed to ${r.title || fmt.short(r.share_id)}`);
          onSubscribed(r);
        } catch (e) {
          setErr(e);
        }
      }}>Subscribe<//>
    </div>
  <//>`;
}

function SubscribeForm({ onSubscribed }) {
  const [target, setTarget] = useState('');
  const [pubkey, setPubkey] = useState('');
  const [trust, setTrust] = useState('normal');
  const [err, setErr] = useState(null);
  const [fieldErr, setFieldErr] = useState(null);
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  const t = target.trim();
  const byId = /^[0-9a-fA-F]{64}$/.test(t);
  const submit = async (e) => {
    e.preventDefault();
    setErr(null);
    setResult(null);
    if (!t) return setFieldErr('Paste a share link (scp2p://s/…) or a share id.');
    if (!t.startsWith('scp2p://') && !byId) {
      return setFieldErr('This is neither a share link (it starts with scp2p://s/) nor a share id (64 hex digits).');
    }
    if (pubkey.trim() && !/^[0-9a-fA-F]{64}$/.test(pubkey.trim())) {
      return setFieldErr('The public key is 64 hex digits.');
    }
    setFieldErr(null);
    setBusy(true);
    try {
      const r = await api.post('/api/subscribe', { target: t, pubkey: pubkey.trim() || undefined, trust });
      setResult(r);
      if (!r.error) {
        toast(`Subscribed to ${r.title || fmt.short(r.share_id)}`);
        setTarget('');
        setPubkey('');
      }
      onSubscribed(r);
    } catch (e2) {
      setErr(e2);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="card" onSubmit=${submit} aria-labelledby="sub-h" novalidate>
    <h2 id="sub-h">Subscribe</h2>
    <${Field} label="Share link or id" error=${fieldErr} hint="A link someone gave you (scp2p://s/…), or a share id">
      ${(id, desc, bad) => html`<input id=${id} name="target" type="text" value=${target} spellcheck="false" autocomplete="off"
        aria-describedby=${desc} aria-invalid=${bad ? 'true' : undefined} placeholder="scp2p://s/…"
        onInput=${(e) => setTarget(e.target.value)} />`}
    <//>
    ${byId
      ? html`<${Field} label="Public key of the share" hint="Needed to verify a share given by id (64 hex digits)">
          ${(id, desc) => html`<input id=${id} type="text" value=${pubkey} spellcheck="false" aria-describedby=${desc}
            onInput=${(e) => setPubkey(e.target.value)} />`}
        <//>`
      : null}
    <${Field} label="Trust" hint="Search shows trusted and normal shares by default">
      ${(id, desc) => html`<select id=${id} value=${trust} aria-describedby=${desc} onChange=${(e) => setTrust(e.target.value)}>
        <option value="trusted">Trusted</option><option value="normal">Normal</option><option value="untrusted">Untrusted</option>
      </select>`}
    <//>
    <button type="submit" class="btn btn-primary" disabled=${busy}>${busy ? 'Subscribing…' : 'Subscribe'}</button>
    <${ErrorBox} error=${err} title="Could not subscribe" />
    ${result && result.error
      ? html`<div class="msg msg-warn" role="alert" data-testid="subscribe-warning">
          Subscribed, but the catalog could not be fetched yet: ${result.error}. trove keeps trying in the background.</div>`
      : null}
    ${result && !result.error
      ? html`<${Note} kind="ok">Subscribed to <strong>${result.title || fmt.short(result.share_id)}</strong>, revision ${result.seq}, ${fmt.plural(result.items || 0, 'file')}.<//>`
      : null}
  </form>`;
}

function ShareView({ share, onChanged }) {
  const target = share.subscribed ? share.share_id : share.link || share.share_id;
  const [sel] = useState(() => new Selection());
  const [, setTick] = useState(0);
  const rerender = () => setTick((n) => n + 1);
  const [expanded, setExpanded] = useState(() => new Set());
  const [top, setTop] = useState(null);
  const [err, setErr] = useState(null);
  const [loading, setLoading] = useState(true);
  const [notice, setNotice] = useState(null);
  const [confirmUnsub, setConfirmUnsub] = useState(false);

  const loadLevel = async (path) => {
    const l = await api.get('/api/ls', { share: target, path });
    sel.load(path, l.entries);
    return l;
  };
  const loadTop = async () => {
    setLoading(true);
    setErr(null);
    try {
      const l = await loadLevel('');
      setTop(l);
      store.markSeen(share.share_id, l.seq);
      // Folders opened before a new revision are listed again.
      for (const p of expanded) await loadLevel(p).catch(() => null);
    } catch (e) {
      setErr(e);
    } finally {
      setLoading(false);
    }
  };
  const section = useRef(null);
  useEffect(() => {
    loadTop();
  }, [target]);
  // On a narrow window the share opens below the list: bring it into view.
  useEffect(() => {
    if (window.innerWidth < 900 && section.current) section.current.scrollIntoView({ block: 'start' });
  }, []);
  useEvents(['manifest_updated'], (ev) => {
    if (ev.share_id === share.share_id) {
      setNotice(`A new revision (${ev.seq}) arrived; the list shows it now.`);
      loadTop();
    }
  });

  const toggleOpen = async (path) => {
    const next = new Set(expanded);
    if (next.has(path)) next.delete(path);
    else {
      if (!sel.isLoaded(path)) {
        try {
          await loadLevel(path);
        } catch (e) {
          setErr(e);
          return;
        }
      }
      next.add(path);
    }
    setExpanded(next);
  };
  const toggleSel = (path) => {
    sel.toggle(path);
    rerender();
  };
  const totals = sel.totals();

  return html`<section class="card" aria-labelledby="share-h" data-testid="share-view" ref=${section}>
    <div class="row-between">
      <h2 id="share-h">${top ? fmt.shareName(top) : fmt.shareName(share)}</h2>
      <div class="row">
        ${top ? html`<${Badge} kind="seq">revision ${top.seq}<//>` : null}
        ${share.subscribed ? html`<${Badge} kind="ok">subscribed<//>` : null}
      </div>
    </div>
    ${top && top.description ? html`<p>${top.description}</p>` : null}
    <p class="muted mono" title="Share id">${share.share_id}</p>
    <${ShareActions} share=${share} onChanged=${onChanged} onUnsubscribe=${() => setConfirmUnsub(true)} />
    ${notice ? html`<${Note}>${notice}<//>` : null}
    <${ErrorBox} error=${err} title="Could not list this share" />
    ${loading && !top ? html`<p><${Spinner} label="Fetching the catalog…" /></p>` : null}
    ${top
      ? html`<div class="row" style="margin:0.5rem 0">
            <button type="button" class="btn btn-small" onClick=${() => {
              sel.selectAll();
              rerender();
            }}>Select all</button>
            <button type="button" class="btn btn-small" onClick=${() => {
              sel.clear();
              rerender();
            }}>Select none</button>
          </div>
          ${top.entries.length === 0 ? html`<p class="muted">This share is empty.</p>` : null}
          <ul class="tree" role="tree" aria-label="Files of the share" aria-multiselectable="true">
            ${top.entries.map((e) => html`<${TreeNode} key=${e.path} e=${e} sel=${sel} expanded=${expanded} onOpen=${toggleOpen} onToggle=${toggleSel} />`)}
          </ul>
          <${DownloadBar} share=${share} target=${target} top=${top} sel=${sel} totals=${totals} />`
      : null}
    <${Confirm} open=${confirmUnsub} title="Unsubscribe?" danger confirmLabel="Unsubscribe" onClose=${() => setConfirmUnsub(false)}
      onConfirm=${async () => {
        try {
          await api.post('/api/unsubscribe', { share: share.share_id });
          toast('Unsubscribed');
          setConfirmUnsub(false);
          onChanged();
          location.hash = '#/discover';
        } catch (e) {
          setConfirmUnsub(false);
          setErr(e);
        }
      }}>
      <p>trove stops following <strong>${fmt.shareName(share)}</strong> and removes it from search. Files you downloaded stay where they are.</p>
    <//>
  </section>`;
}

function ShareActions({ share, onChanged, onUnsubscribe }) {
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const sub = share.sub;
  const update = async (patch) => {
    setErr(null);
    try {
      await api.post('/api/subscriptions/update', { share: share.share_id, ...patch });
      toast('Saved');
      onChanged();
    } catch (e) {
      setErr(e);
    }
  };
  if (!share.subscribed) {
    return html`<div class="row">
      <button type="button" class="btn btn-primary" disabled=${busy || !share.link} onClick=${async () => {
        setBusy(true);
        setErr(null);
        try {
          const r = await api.post('/api/subscribe', { target: share.link });
          if (r.error) setErr('Subscribed, but the catalog could not be fetched yet: ' + r.error);
          else toast('Subscribed');
          onChanged();
        } catch (e) {
          setErr(e);
        } finally {
          setBusy(false);
        }
      }}>${busy ? 'Subscribing…' : 'Subscribe'}</button>
      ${share.link ? html`<${CopyButton} text=${share.link} label="Copy link" />` : null}
      <${ErrorBox} error=${err} />
    </div>`;
  }
  return html`<div class="row">
      <label class="check">Trust
        <select value=${sub.trust} onChange=${(e) => update({ trust: e.target.value })} aria-label="Trust of this share">
          <option value="trusted">Trusted</option><option value="normal">Normal</option><option value="untrusted">Untrusted</option>
        </select>
      </label>
      <label class="check"><input type="checkbox" checked=${sub.blocklist} onChange=${(e) => update({ blocklist: e.target.checked })} /> Blocklist</label>
      <${ActionButton} class="btn-small" busyLabel="Copying…" onClick=${async () => {
        try {
          const l = await api.get('/api/link', { share: share.share_id });
          await copyText(l.link);
          toast('Link copied');
        } catch (e) {
          setErr(e);
        }
      }}>Copy link<//>
      <button type="button" class="btn btn-small" onClick=${onUnsubscribe}>Unsubscribe</button>
    </div>
    ${sub.last_error ? html`<div class="msg msg-warn">The last sync failed: ${sub.last_error}</div>` : null}
    ${sub.last_sync_at ? html`<p class="muted">Last synced ${fmt.ago(sub.last_sync_at)}.</p>` : null}
    <${ErrorBox} error=${err} />`;
}

function TreeNode({ e, sel, expanded, onOpen, onToggle }) {
  const ref = useRef(null);
  const st = sel.state(e.path);
  // Before paint, so the box never shows a stale mixed state after a render.
  useLayoutEffect(() => {
    if (ref.current) ref.current.indeterminate = st === 'mixed';
  });
  const open = e.is_dir && expanded.has(e.path);
  const kids = open ? (sel.children.get(e.path) || []).map((p) => sel.entries.get(p)) : [];
  return html`<li role="treeitem" aria-expanded=${e.is_dir ? String(open) : undefined} aria-selected=${st === 'checked' ? 'true' : 'false'}>
    <div class="tree-row">
      ${e.is_dir
        ? html`<button type="button" class="tree-toggle" onClick=${() => onOpen(e.path)} aria-label=${(open ? 'Close ' : 'Open ') + e.name}>${open ? '▾' : '▸'}</button>`
        : html`<span></span>`}
      <input type="checkbox" ref=${ref} checked=${st === 'checked'} onChange=${() => onToggle(e.path)}
        aria-checked=${st === 'mixed' ? 'mixed' : String(st === 'checked')} aria-label=${'Select ' + (e.is_dir ? 'folder ' : '') + e.name}
        data-path=${e.path} />
      <span class="tree-name">${e.name}${e.is_dir ? html` <span class="muted">(${fmt.plural(e.files, 'file')})</span>` : null}</span>
      <span class="tree-kind">${e.is_dir ? 'folder' : fmt.kind(e.mime, e.name)}</span>
      <span class="tree-size">${fmt.bytes(e.size)}</span>
    </div>
    ${open
      ? html`<ul role="group">${kids.filter(Boolean).map((k) => html`<${TreeNode} key=${k.path} e=${k} sel=${sel} expanded=${expanded} onOpen=${onOpen} onToggle=${onToggle} />`)}</ul>`
      : null}
  </li>`;
}

function safeName(s) {
  return (s || 'share').replace(/[\/\\:*?"<>|\u0000-\u001f]+/g, '_').replace(/^\.+/, '').trim().slice(0, 80) || 'share';
}

function DownloadBar({ share, target, top, sel, totals }) {
  const [dir, setDir] = useState('');
  const [picking, setPicking] = useState(false);
  const [err, setErr] = useState(null);
  const [fieldErr, setFieldErr] = useState(null);
  const [result, setResult] = useState(null);
  useEffect(() => {
    api
      .get('/api/fs')
      .then((l) => setDir((d) => d || (l.downloads || l.home || '') + '/' + safeName(top.title || share.title || fmt.short(share.share_id))))
      .catch(() => null);
  }, []);
  const start = async () => {
    setErr(null);
    setResult(null);
    if (!dir.trim().startsWith('/') && !/^[A-Za-z]:[\\/]/.test(dir.trim())) {
      setFieldErr('Choose a folder by its full path (it starts with /).');
      return;
    }
    setFieldErr(null);
    try {
      const r = await api.post('/api/downloads/start', { share: target, paths: sel.paths(), out_dir: dir.trim() });
      setResult(r);
      toast(`${fmt.plural(r.started.length, 'download')} started`);
    } catch (e) {
      setErr(e);
    }
  };
  const failed = result ? result.settled.filter((f) => f.status === 'failed') : [];
  const present = result ? result.settled.filter((f) => f.status !== 'failed') : [];
  return html`<div class="download-bar">
    <${Field} label="Download into" error=${fieldErr} hint="A folder on this computer; it is created if needed">
      ${(id, desc, bad) => html`<div class="row" style="flex-wrap:nowrap">
        <input id=${id} type="text" value=${dir} spellcheck="false" aria-describedby=${desc} aria-invalid=${bad ? 'true' : undefined}
          onInput=${(e) => setDir(e.target.value)} name="out_dir" />
        <button type="button" class="btn" onClick=${() => setPicking(true)}>Browse…</button>
      </div>`}
    <//>
    <div class="row-between">
      <span class="muted">${totals.files ? `${fmt.plural(totals.files, 'file')} selected` : 'Nothing selected'}</span>
      <${ActionButton} class="btn-primary" disabled=${totals.files === 0} onClick=${start} busyLabel="Starting…" data-testid="download-button">
        Download ${fmt.plural(totals.files, 'file')} · ${fmt.bytes(totals.size)}
      <//>
    </div>
    <${ErrorBox} error=${err} title="The download did not start" />
    ${result
      ? html`<div class="msg msg-ok" role="status">
          ${result.started.length ? html`${fmt.plural(result.started.length, 'file')} downloading. <a href="#/downloads">See the downloads</a>.` : null}
          ${present.length ? html` ${fmt.plural(present.length, 'file')} already there.` : null}
        </div>`
      : null}
    ${failed.length
      ? html`<div class="msg msg-error" role="alert">${failed.map((f) => html`<div key=${f.path}><strong>${f.path}</strong>: ${f.error}</div>`)}</div>`
      : null}
    <${FolderPicker} open=${picking} mode="dir" start=${dir.replace(/\/[^/]*$/, '') || undefined} onClose=${() => setPicking(false)}
      onPick=${(p) => {
        setDir(p[0]);
        setPicking(false);
      }} />
  </div>`;
}
