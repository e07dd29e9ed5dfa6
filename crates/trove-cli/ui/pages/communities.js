// Communities: join one (by link, or id and public key), create one, browse its members and
// their public shares, subscribe from the listing, leave.

import {
  html, useState, useAsync, useEventsReload, ErrorBox, Note, Spinner, Badge, Field, ActionButton, CopyButton, Confirm, Dialog,
  QrCode, toast, EmptyRow,
} from '../components.js';
import * as api from '../api.js';
import * as fmt from '../format.js';

export function Communities({ arg }) {
  const list = useAsync(() => api.get('/api/communities'));
  useEventsReload(['community_joined', 'community_left', 'stream_open'], list.reload);
  const selected = (list.data || []).find((c) => c.share_id === arg);
  const select = (id) => (location.hash = '#/communities/' + id);
  const unavailable = list.error && list.error.status === 404;
  return html`<div class="page-head"><h1 tabindex="-1">Communities</h1>
      <span class="muted">Groups you join on purpose; members see each other's public shares.</span></div>
    <div class="split">
      <div>
        <${JoinForm} onJoined=${(c) => {
          list.reload();
          select(c.share_id);
        }} />
        <${CreateForm} onCreated=${(c) => {
          list.reload();
          select(c.share_id);
        }} />
        <section class="card" aria-labelledby="joined-h">
          <h2 id="joined-h">Joined</h2>
          ${unavailable
            ? html`<div class="msg msg-warn">Communities are not available in this build of trove yet.</div>`
            : html`<${ErrorBox} error=${list.error} />`}
          ${list.data && list.data.length === 0 ? html`<p class="muted">You have not joined a community.</p>` : null}
          <ul class="list">
            ${(list.data || []).map(
              (c) => html`<li key=${c.share_id}>
                <button type="button" class="list-item" aria-current=${selected && selected.share_id === c.share_id ? 'true' : undefined}
                  onClick=${() => select(c.share_id)}>
                  <div class="list-title">${c.name || 'Community ' + fmt.short(c.share_id)}</div>
                  <div class="list-meta">${c.owner ? html`<${Badge} kind="ok">yours<//>` : null}<span>joined ${fmt.ago(c.joined_at)}</span></div>
                </button>
              </li>`,
            )}
          </ul>
        </section>
      </div>
      <div>
        ${selected
          ? html`<${CommunityView} key=${selected.share_id} c=${selected} onLeft=${() => {
              list.reload();
              location.hash = '#/communities';
            }} />`
          : html`<div class="card"><p class="muted">Choose a community to see its members and shares.</p></div>`}
      </div>
    </div>`;
}

function JoinForm({ onJoined }) {
  const [mode, setMode] = useState('link');
  const [link, setLink] = useState('');
  const [id, setId] = useState('');
  const [key, setKey] = useState('');
  const [name, setName] = useState('');
  const [token, setToken] = useState('');
  const [errors, setErrors] = useState({});
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const hex64 = (s) => /^[0-9a-fA-F]{64}$/.test(s.trim());
  const submit = async (e) => {
    e.preventDefault();
    const errs = {};
    if (mode === 'link' && !link.trim().startsWith('scp2p://')) errs.link = 'A community link starts with scp2p://s/.';
    if (mode === 'id' && !hex64(id)) errs.id = 'The community id is 64 hex digits.';
    if (mode === 'id' && !hex64(key)) errs.key = 'The public key is 64 hex digits.';
    if (token.trim() && !/^[0-9a-fA-F]+$/.test(token.trim())) errs.token = 'A membership token is hex digits.';
    if (name.length > 64) errs.name = 'At most 64 characters.';
    setErrors(errs);
    if (Object.keys(errs).length) return;
    setBusy(true);
    setErr(null);
    try {
      const body = mode === 'link' ? { link: link.trim() } : { share_id: id.trim(), share_pubkey: key.trim() };
      if (name.trim()) body.name = name.trim();
      if (token.trim()) body.token = token.trim();
      const c = await api.post('/api/communities/join', body);
      toast('Joined ' + (c.name || fmt.short(c.share_id)));
      setLink('');
      setId('');
      setKey('');
      setToken('');
      setName('');
      onJoined(c);
    } catch (e2) {
      setErr(e2);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="card" onSubmit=${submit} novalidate aria-labelledby="join-h">
    <h2 id="join-h">Join a community</h2>
    <fieldset><legend>Join with</legend>
      <div class="row">
        <label class="check"><input type="radio" name="join-mode" checked=${mode === 'link'} onChange=${() => setMode('link')} /> a link</label>
        <label class="check"><input type="radio" name="join-mode" checked=${mode === 'id'} onChange=${() => setMode('id')} /> an id and public key</label>
      </div>
    </fieldset>
    ${mode === 'link'
      ? html`<${Field} label="Community link" error=${errors.link}>
          ${(fid, desc, bad) => html`<input id=${fid} type="text" value=${link} spellcheck="false" placeholder="scp2p://s/…" aria-describedby=${desc}
            aria-invalid=${bad ? 'true' : undefined} onInput=${(e) => setLink(e.target.value)} />`}
        <//>`
      : html`<${Field} label="Community id" error=${errors.id}>
            ${(fid, desc, bad) => html`<input id=${fid} type="text" value=${id} spellcheck="false" aria-describedby=${desc}
              aria-invalid=${bad ? 'true' : undefined} onInput=${(e) => setId(e.target.value)} />`}
          <//>
          <${Field} label="Public key" error=${errors.key}>
            ${(fid, desc, bad) => html`<input id=${fid} type="text" value=${key} spellcheck="false" aria-describedby=${desc}
              aria-invalid=${bad ? 'true' : undefined} onInput=${(e) => setKey(e.target.value)} />`}
          <//>`}
    <${Field} label="Name (for you)" error=${errors.name} hint="Optional">
      ${(fid, desc, bad) => html`<input id=${fid} type="text" value=${name} aria-describedby=${desc} aria-invalid=${bad ? 'true' : undefined}
        onInput=${(e) => setName(e.target.value)} />`}
    <//>
    <${Field} label="Membership token" error=${errors.token} hint="Only for communities that require one">
      ${(fid, desc, bad) => html`<input id=${fid} type="text" value=${token} spellcheck="false" aria-describedby=${desc}
        aria-invalid=${bad ? 'true' : undefined} onInput=${(e) => setToken(e.target.value)} />`}
    <//>
    <button type="submit" class="btn btn-primary" disabled=${busy}>${busy ? 'Joining…' : 'Join'}</button>
    <${ErrorBox} error=${err} title="Could not join" />
  </form>`;
}

function CreateForm({ onCreated }) {
  const [name, setName] = useState('');
  const [err, setErr] = useState(null);
  const [fieldErr, setFieldErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    if (!name.trim()) return setFieldErr('Give the community a name.');
    if (name.trim().length > 64) return setFieldErr('At most 64 characters.');
    setFieldErr(null);
    setBusy(true);
    setErr(null);
    try {
      const c = await api.post('/api/communities/create', { name: name.trim() });
      toast('Created ' + (c.name || fmt.short(c.share_id)));
      setName('');
      onCreated(c);
    } catch (e2) {
      setErr(e2);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="card" onSubmit=${submit} novalidate aria-labelledby="create-h">
    <h2 id="create-h">Create a community</h2>
    <${Field} label="Name" error=${fieldErr}>
      ${(fid, desc, bad) => html`<input id=${fid} type="text" value=${name} aria-describedby=${desc} aria-invalid=${bad ? 'true' : undefined}
        onInput=${(e) => setName(e.target.value)} />`}
    <//>
    <button type="submit" class="btn" disabled=${busy}>${busy ? 'Creating…' : 'Create'}</button>
    <${ErrorBox} error=${err} title="Could not create" />
  </form>`;
}

function CommunityView({ c, onLeft }) {
  const members = useAsync(() => api.get('/api/communities/members', { community: c.share_id }));
  const [pages, setPages] = useState([]);
  const first = useAsync(() => api.get('/api/communities/browse', { community: c.share_id }).then((p) => {
    setPages([]);
    return p;
  }));
  const [leave, setLeave] = useState(false);
  const [qr, setQr] = useState(false);
  const [err, setErr] = useState(null);
  const [subscribed, setSubscribed] = useState({});
  useEventsReload(['community_member_seen', 'community_member_left', 'community_refreshed'], members.reload, 500);
  useEventsReload(['community_share_seen', 'community_refreshed'], first.reload, 500);
  const shares = [first.data, ...pages].filter(Boolean).flatMap((p) => p.shares);
  const next = pages.length ? pages[pages.length - 1].next : first.data && first.data.next;
  const memberName = (pk) => {
    const m = (members.data || []).find((x) => x.node_pubkey === pk);
    return m ? (m.is_self ? 'you' : fmt.short(m.node_id)) : pk ? fmt.short(pk) : 'unknown';
  };
  return html`<section class="card" aria-labelledby="comm-h">
    <div class="row-between">
      <h2 id="comm-h">${c.name || 'Community ' + fmt.short(c.share_id)}</h2>
      <div class="row">
        <${ActionButton} class="btn-small" busyLabel="Refreshing…" onClick=${async () => {
          setErr(null);
          try {
            const r = await api.post('/api/communities/refresh', { community: c.share_id });
            toast(`${fmt.plural(r.members, 'member')}, ${fmt.plural(r.shares, 'share')}`);
            if (r.errors && r.errors.length) setErr('Some members could not be reached: ' + r.errors.join('; '));
            members.reload();
            first.reload();
          } catch (e) {
            setErr(e);
          }
        }}>Refresh<//>
        <${CopyButton} text=${c.link} label="Copy link" />
        <button type="button" class="btn btn-small" onClick=${() => setQr(true)}>QR code</button>
        <button type="button" class="btn btn-small" onClick=${() => setLeave(true)}>Leave</button>
      </div>
    </div>
    <p class="muted mono">${c.share_id}</p>
    ${c.strict ? html`<${Note}>Members of this community need a membership token.<//>` : null}
    <${ErrorBox} error=${err} />
    <h3>Public shares</h3>
    <${ErrorBox} error=${first.error} />
    ${first.loading && !first.data ? html`<${Spinner} />` : null}
    <div class="table-wrap">
      <table class="stacked">
        <thead><tr><th>Share</th><th>Revision</th><th>Published by</th><th><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          ${first.data && shares.length === 0 ? html`<${EmptyRow} cols="4">No public share is bound to this community yet.<//>` : null}
          ${shares.map(
            (s) => html`<tr key=${s.share_id}>
              <td data-label="Share"><div class="list-title">${s.title || fmt.short(s.share_id)}</div>${s.description ? html`<div class="muted">${s.description}</div>` : null}</td>
              <td data-label="Revision"><${Badge} kind="seq">rev ${s.seq}<//></td>
              <td data-label="Published by">${memberName(s.publisher)}</td>
              <td data-label="Actions">${s.is_own
                ? html`<${Badge}>yours<//>`
                : subscribed[s.share_id]
                  ? html`<a href=${'#/discover/' + s.share_id}>Subscribed — open</a>`
                  : html`<${ActionButton} class="btn-small" onClick=${async () => {
                      setErr(null);
                      try {
                        const r = await api.post('/api/subscribe', { target: s.link });
                        setSubscribed({ ...subscribed, [s.share_id]: true });
                        if (r.error) setErr('Subscribed, but the catalog could not be fetched yet: ' + r.error);
                        else toast('Subscribed to ' + (s.title || fmt.short(s.share_id)));
                      } catch (e) {
                        setErr(e);
                      }
                    }}>Subscribe<//>`}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${next
      ? html`<${ActionButton} class="btn-small" onClick=${async () => {
          try {
            const p = await api.get('/api/communities/browse', { community: c.share_id, cursor: next });
            setPages([...pages, p]);
          } catch (e) {
            setErr(e);
          }
        }}>More shares<//>`
      : null}
    <h3>Members</h3>
    <${ErrorBox} error=${members.error} />
    <div class="table-wrap">
      <table class="stacked">
        <thead><tr><th>Node</th><th>Addresses</th><th>Kind</th><th>Seen</th></tr></thead>
        <tbody>
          ${members.data && members.data.length === 0 ? html`<${EmptyRow} cols="4">No member seen yet.<//>` : null}
          ${(members.data || []).map(
            (m) => html`<tr key=${m.node_pubkey}>
              <td data-label="Node" class="mono" title=${m.node_pubkey}>${fmt.short(m.node_id)}${m.is_self ? html` <${Badge} kind="ok">you<//>` : null}</td>
              <td data-label="Addresses" class="mono">${m.addrs.join(', ') || '–'}</td>
              <td data-label="Kind">${m.v1 ? 'SCP2P v1' : 'trove'}${m.has_token ? ' · token' : ''}</td>
              <td data-label="Seen">${fmt.ago(m.seen_at)}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    <${Dialog} open=${qr} onClose=${() => setQr(false)} title="Community link">
      <${QrCode} text=${c.link} label="QR code of the community link" /><p class="mono">${c.link}</p>
    <//>
    <${Confirm} open=${leave} title="Leave this community?" danger confirmLabel="Leave" onClose=${() => setLeave(false)}
      onConfirm=${async () => {
        try {
          await api.post('/api/communities/leave', { community: c.share_id });
          toast('Left the community');
          setLeave(false);
          onLeft();
        } catch (e) {
          setLeave(false);
          setErr(e);
        }
      }}>
      <p>Members stop seeing you and your shares bound to it; you stop seeing theirs. Subscriptions you made stay.</p>
    <//>
  </section>`;
}
