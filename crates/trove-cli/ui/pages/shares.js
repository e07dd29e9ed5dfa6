// My shares: publish files or a folder (title, description, tags, public or private,
// communities), publish a new revision, change visibility, copy the link with its bootstrap
// hints, show it as a QR code, and export a share key after a confirmation.

import {
  html, useState, useEffect, useAsync, useEventsReload, ErrorBox, Note, Spinner, Badge, Field, ActionButton, CopyButton,
  FolderPicker, Dialog, Confirm, QrCode, Progress, toast, copyText,
} from '../components.js';
import * as api from '../api.js';
import * as fmt from '../format.js';
import * as store from '../store.js';

export function Shares({ arg }) {
  const shares = useAsync(() => api.get('/api/shares'));
  const [revisionOf, setRevisionOf] = useState(arg || null);
  useEventsReload(['published', 'stream_open'], shares.reload);
  return html`<div class="page-head"><h1 tabindex="-1">My shares</h1></div>
    <div class="split">
      <${PublishForm} shares=${shares.data || []} revisionOf=${revisionOf} setRevisionOf=${setRevisionOf} onPublished=${shares.reload} />
      <section class="card" aria-labelledby="mine-h">
        <h2 id="mine-h">Your shares</h2>
        <${ErrorBox} error=${shares.error} />
        ${!shares.data && !shares.error ? html`<${Spinner} />` : null}
        ${shares.data && shares.data.length === 0 ? html`<p class="muted">You have not published anything yet.</p>` : null}
        <ul class="list">
          ${(shares.data || []).map(
            (s) => html`<li key=${s.share_id}><${ShareRow} s=${s} onRevision=${() => {
              setRevisionOf(s.share_id);
              document.getElementById('pub-h').scrollIntoView({ behavior: 'smooth' });
              document.getElementById('pub-h').focus();
            }} onChanged=${shares.reload} /></li>`,
          )}
        </ul>
      </section>
    </div>`;
}

function PublishForm({ shares, revisionOf, setRevisionOf, onPublished }) {
  const comms = useAsync(() => api.get('/api/communities').catch(() => []));
  const [paths, setPaths] = useState([]);
  const [typed, setTyped] = useState('');
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');
  const [tags, setTags] = useState('');
  const [isPublic, setPublic] = useState(false);
  const [communities, setCommunities] = useState([]);
  const [picking, setPicking] = useState(false);
  const [errors, setErrors] = useState({});
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);
  const [qr, setQr] = useState(false);
  store.useLive();
  const rev = shares.find((s) => s.share_id === revisionOf);
  useEffect(() => {
    if (!rev) return;
    setTitle(rev.title || '');
    setPublic(rev.public);
    // Fill in the description of the current revision.
    api.get('/api/ls', { share: rev.share_id }).then((l) => setDescription((d) => d || l.description || '')).catch(() => null);
  }, [revisionOf, !!rev]);

  const addTyped = () => {
    const p = typed.trim();
    if (!p) return;
    if (!p.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(p)) {
      setErrors({ ...errors, paths: 'Give the full path of a file or folder (it starts with /).' });
      return;
    }
    setPaths([...new Set([...paths, p])]);
    setTyped('');
    setErrors({ ...errors, paths: null });
  };
  const submit = async (e) => {
    e.preventDefault();
    const errs = {};
    if (paths.length === 0) errs.paths = 'Add at least one file or folder to publish.';
    if (title.length > 200) errs.title = 'Keep the title under 200 characters.';
    setErrors(errs);
    if (Object.values(errs).some(Boolean)) return;
    setBusy(true);
    setErr(null);
    setResult(null);
    try {
      const body = {
        paths,
        title: title.trim() || undefined,
        description: description.trim() || undefined,
        tags: tags.split(',').map((t) => t.trim()).filter(Boolean),
        public: isPublic,
        communities,
      };
      if (rev) body.share = rev.share_id;
      const r = await api.post('/api/publish', body);
      setResult(r);
      toast(`Published ${r.name}, revision ${r.seq}`);
      setPaths([]);
      setRevisionOf(null);
      onPublished();
    } catch (e2) {
      setErr(e2);
    } finally {
      setBusy(false);
    }
  };
  const p = store.publishing;
  return html`<form class="card" onSubmit=${submit} novalidate aria-labelledby="pub-h">
    <h2 id="pub-h" tabindex="-1">${rev ? 'New revision' : 'Publish'}</h2>
    ${rev
      ? html`<${Note}>Publishing revision ${(rev.seq || 0) + 1} of <strong>${rev.title || rev.name}</strong>: the files you choose replace the current list.${' '}
          <button type="button" class="link" onClick=${() => setRevisionOf(null)}>Publish a new share instead</button><//>`
      : null}
    <fieldset>
      <legend>Files and folders</legend>
      ${paths.length === 0 ? html`<p class="muted">Nothing chosen yet. One folder alone: its contents become the share.</p>` : null}
      <ul class="list">
        ${paths.map(
          (x) => html`<li key=${x} class="row-between"><span class="mono">${x}</span>
            <button type="button" class="btn btn-small btn-ghost" aria-label=${'Remove ' + x} onClick=${() => setPaths(paths.filter((y) => y !== x))}>Remove</button></li>`,
        )}
      </ul>
      <${Field} label="Add a path" error=${errors.paths}>
        ${(id, desc, bad) => html`<div class="row" style="flex-wrap:nowrap">
          <input id=${id} type="text" value=${typed} spellcheck="false" placeholder="/home/me/Photos" aria-describedby=${desc}
            aria-invalid=${bad ? 'true' : undefined} name="path"
            onInput=${(e) => setTyped(e.target.value)} onKeyDown=${(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                addTyped();
              }
            }} />
          <button type="button" class="btn" onClick=${addTyped}>Add</button>
          <button type="button" class="btn" onClick=${() => setPicking(true)}>Browse…</button>
        </div>`}
      <//>
    </fieldset>
    <${Field} label="Title" error=${errors.title}>
      ${(id, desc, bad) => html`<input id=${id} name="title" type="text" value=${title} aria-describedby=${desc} aria-invalid=${bad ? 'true' : undefined}
        onInput=${(e) => setTitle(e.target.value)} />`}
    <//>
    <${Field} label="Description">
      ${(id) => html`<textarea id=${id} name="description" value=${description} onInput=${(e) => setDescription(e.target.value)}></textarea>`}
    <//>
    <${Field} label="Tags" hint="Separated by commas; every file gets them">
      ${(id, desc) => html`<input id=${id} type="text" value=${tags} aria-describedby=${desc} onInput=${(e) => setTags(e.target.value)} />`}
    <//>
    <label class="check"><input type="checkbox" name="public" checked=${isPublic} onChange=${(e) => setPublic(e.target.checked)} />
      Public: listed to peers on the LAN and in the communities below</label>
    <p class="hint">A private share is found only by those who have its link or id.</p>
    ${comms.data && comms.data.length
      ? html`<fieldset><legend>Communities</legend>
          ${comms.data.map(
            (c) => html`<label class="check" key=${c.share_id} style="display:flex">
              <input type="checkbox" checked=${communities.includes(c.share_id)} onChange=${(e) =>
                setCommunities(e.target.checked ? [...communities, c.share_id] : communities.filter((x) => x !== c.share_id))} />
              ${c.name || fmt.short(c.share_id)}</label>`,
          )}
        </fieldset>`
      : null}
    <div class="actions">
      <button type="submit" class="btn btn-primary" disabled=${busy}>${busy ? 'Publishing…' : rev ? 'Publish revision' : 'Publish'}</button>
    </div>
    ${busy && p
      ? html`<div role="status"><p>Hashing ${p.files_done} of ${fmt.plural(p.files_total, 'file')} (${fmt.bytes(p.bytes_done)} of ${fmt.bytes(p.bytes_total)})</p>
          <${Progress} value=${p.bytes_done} max=${p.bytes_total} label="Publishing" /></div>`
      : null}
    <${ErrorBox} error=${err} title="Could not publish" />
    ${result
      ? html`<div class="msg msg-ok" role="status" data-testid="publish-result">
          <p>Published <strong>${result.name}</strong>, revision ${result.seq}: ${fmt.plural(result.items, 'file')}, ${fmt.bytes(result.bytes)}.</p>
          <p class="mono" data-testid="share-link">${result.link}</p>
          <div class="row"><${CopyButton} text=${result.link} label="Copy link" />
            <button type="button" class="btn btn-small" onClick=${() => setQr(true)}>Show QR code</button></div>
        </div>
        <${Dialog} open=${qr} onClose=${() => setQr(false)} title="Share link">
          <${QrCode} text=${result.link} label=${'QR code of the link of ' + result.name} />
          <p class="mono">${result.link}</p>
        <//>`
      : null}
    <${FolderPicker} open=${picking} mode="any" onClose=${() => setPicking(false)} onPick=${(ps) => {
      setPaths([...new Set([...paths, ...ps])]);
      setErrors({ ...errors, paths: null });
      setPicking(false);
    }} />
  </form>`;
}

function ShareRow({ s, onRevision, onChanged }) {
  const [qr, setQr] = useState(null);
  const [exportOpen, setExportOpen] = useState(false);
  const [key, setKey] = useState(null);
  const [needPass, setNeedPass] = useState(false);
  const [pass, setPass] = useState('');
  const [visOpen, setVisOpen] = useState(false);
  const [err, setErr] = useState(null);
  const freshLink = async () => (await api.get('/api/link', { share: s.share_id })).link;
  return html`<div style="padding:0.6rem 0.25rem" data-share=${s.share_id}>
    <div class="row-between">
      <div class="list-title">${s.title || s.name}</div>
      <div class="row">
        ${s.seq !== null ? html`<${Badge} kind="seq">rev ${s.seq}<//>` : html`<${Badge}>not published<//>`}
        <${Badge} kind=${s.public ? 'public' : 'plain'}>${s.public ? 'public' : 'private'}<//>
      </div>
    </div>
    <div class="list-meta">${s.name !== s.title ? html`<span>${s.name}</span>` : null}<span>${fmt.plural(s.items, 'file')}</span><span>${fmt.bytes(s.bytes)}</span>
      <span class="mono" title=${s.share_id}>${fmt.short(s.share_id)}</span></div>
    <div class="row" style="margin-top:0.4rem">
      <${ActionButton} class="btn-small" onClick=${async () => {
        try {
          const l = await freshLink();
          await copyText(l);
          toast('Link copied');
        } catch (e) {
          setErr(e);
        }
      }}>Copy link<//>
      <${ActionButton} class="btn-small" onClick=${async () => {
        try {
          setQr(await freshLink());
        } catch (e) {
          setErr(e);
        }
      }}>QR code<//>
      <button type="button" class="btn btn-small" onClick=${onRevision}>New revision</button>
      <button type="button" class="btn btn-small" disabled=${s.seq === null} onClick=${() => setVisOpen(true)}>Make ${s.public ? 'private' : 'public'}</button>
      <button type="button" class="btn btn-small" onClick=${() => {
        setKey(null);
        setNeedPass(false);
        setPass('');
        setExportOpen(true);
      }}>Export key…</button>
    </div>
    <${ErrorBox} error=${err} />
    <${Dialog} open=${!!qr} onClose=${() => setQr(null)} title=${'Link of ' + (s.title || s.name)}>
      ${qr ? html`<${QrCode} text=${qr} label=${'QR code of the link of ' + (s.title || s.name)} />
        <p class="mono">${qr}</p><div class="actions"><${CopyButton} text=${qr} label="Copy link" /></div>` : null}
    <//>
    <${Confirm} open=${visOpen} title=${s.public ? 'Make this share private?' : 'Make this share public?'} confirmLabel=${s.public ? 'Make private' : 'Make public'}
      onClose=${() => setVisOpen(false)} onConfirm=${async () => {
        try {
          const r = await api.post('/api/shares/visibility', { share: s.share_id, public: !s.public });
          toast(`Now ${s.public ? 'private' : 'public'} (revision ${r.seq})`);
          onChanged();
        } catch (e) {
          setErr(e);
        }
        setVisOpen(false);
      }}>
      <p>${s.public
        ? 'Peers on the LAN and in your communities will no longer see it listed. Whoever has the link can still follow it.'
        : 'Peers on your LAN and members of its communities will see it listed and can subscribe.'}
        This publishes a new revision with the same files.</p>
    <//>
    <${Dialog} open=${exportOpen} onClose=${() => setExportOpen(false)} title="Export the share key">
      ${key
        ? html`<p>This is the secret key of <strong>${s.title || s.name}</strong>. Keep it safe and close this window when done.</p>
            <p class="secret mono" data-testid="share-key">${key}</p>
            <div class="actions"><${CopyButton} text=${key} label="Copy key" /><button type="button" class="btn" onClick=${() => setExportOpen(false)}>Done</button></div>`
        : html`<div class="msg msg-warn"><strong>Whoever has this key can publish revisions of this share as you.</strong>${' '}
              Export it only to move the share to another computer of yours (<code>trove identity import</code>).</div>
            ${needPass
              ? html`<${Field} label="Key passphrase">
                  ${(id) => html`<input id=${id} type="password" value=${pass} autocomplete="off" onInput=${(e) => setPass(e.target.value)} />`}
                <//>`
              : null}
            <${ErrorBox} error=${err} />
            <div class="actions">
              <button type="button" class="btn" onClick=${() => setExportOpen(false)}>Cancel</button>
              <${ActionButton} class="btn-danger" onClick=${async () => {
                setErr(null);
                try {
                  const r = await api.post('/api/identity/export', { share: s.share_id, passphrase: pass || undefined });
                  setKey(r.key);
                } catch (e) {
                  if (/passphrase/i.test(e.message)) setNeedPass(true);
                  setErr(e);
                }
              }}>Show the secret key<//>
            </div>`}
    <//>
  </div>`;
}
