// Settings: listen addresses, bootstrap peers, LAN discovery, bandwidth, relays, protocol
// options (saved to config.toml, checked here and by the node), the trust level and blocklist
// flag of every followed share, and where the data directory is.

import { html, useState, useEffect, useAsync, ErrorBox, Note, Spinner, Field, ActionButton, toast, EmptyRow } from '../components.js';
import * as api from '../api.js';
import * as fmt from '../format.js';

// --- checks, with messages that say what is expected ------------------------------------

function ipv4(s) {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return !!m && m.slice(1).every((x) => Number(x) <= 255);
}
function ipv6(s) {
  return /^[0-9a-fA-F:.]+$/.test(s) && s.includes(':');
}
function port(s) {
  return /^\d{1,5}$/.test(s) && Number(s) <= 65535;
}
/** "0.0.0.0:7001" or "[::]:7001". */
export function checkSocketAddr(s) {
  const t = s.trim();
  if (!t) return null;
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(t);
  if (!m || !(m[1] ? ipv6(m[1]) : ipv4(m[2])) || !port(m[3])) {
    return `“${t}” is not an IP address with a port, like 0.0.0.0:7001 or [::]:7001.`;
  }
  return null;
}
/** "tcp://host:port", "quic://host:port", "host:port", optionally "@<node key>". */
export function checkPeer(s) {
  const t = s.trim();
  const m = /^(?:(tcp|quic):\/\/)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d+)(@[0-9a-fA-F]{64})?$/.exec(t);
  if (!m || !port(m[3])) return `“${t}” is not a peer address like tcp://203.0.113.5:7001, quic://host:7000 or host:7001.`;
  return null;
}
function checkInt(v, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  const t = String(v).trim();
  if (!/^\d+$/.test(t)) return 'A whole number.';
  const n = Number(t);
  if (n < min) return `At least ${min}.`;
  if (n > max) return `At most ${max}.`;
  return null;
}
const lines = (s) => s.split('\n').map((x) => x.trim()).filter(Boolean);

/** The form's values from a configuration. */
function toForm(c) {
  return {
    listen_tcp: c.listen_tcp || '',
    listen_quic: c.listen_quic || '',
    advertise: (c.advertise || []).join('\n'),
    bootstrap: (c.bootstrap || []).join('\n'),
    lan_enabled: c.lan.enabled,
    lan_broadcast: c.lan.broadcast,
    lan_port: String(c.lan.port),
    upload_limit_kib: String(c.upload_limit_kib),
    download_limit_kib: String(c.download_limit_kib),
    parallel_files: String(c.parallel_files),
    free_space_reserve_mib: String(c.free_space_reserve_mib),
    relay_client: (c.relay && c.relay.client) || 'auto',
    relay_relays: ((c.relay && c.relay.relays) || []).join('\n'),
    relay_enabled: !!(c.relay && c.relay.enabled),
    extensions: c.extensions,
    strict: c.strict,
    seed_downloads: c.seed_downloads,
    resume_downloads: !!c.resume_downloads,
    sync_interval_secs: String(c.sync_interval_secs),
  };
}

export function validate(f) {
  const e = {};
  e.listen_tcp = checkSocketAddr(f.listen_tcp);
  e.listen_quic = checkSocketAddr(f.listen_quic);
  e.advertise = lines(f.advertise).map(checkPeer).find(Boolean) || null;
  e.bootstrap = lines(f.bootstrap).map(checkPeer).find(Boolean) || null;
  e.relay_relays = lines(f.relay_relays).map(checkPeer).find(Boolean) || null;
  e.lan_broadcast = ipv4(f.lan_broadcast.trim()) ? null : 'An IPv4 broadcast address: 255.255.255.255 on a LAN, 127.255.255.255 for this machine only.';
  e.lan_port = port(f.lan_port.trim()) && Number(f.lan_port) > 0 ? null : 'A UDP port between 1 and 65535.';
  e.upload_limit_kib = checkInt(f.upload_limit_kib);
  e.download_limit_kib = checkInt(f.download_limit_kib);
  e.parallel_files = checkInt(f.parallel_files, { min: 1, max: 64 });
  e.free_space_reserve_mib = checkInt(f.free_space_reserve_mib);
  e.sync_interval_secs = checkInt(f.sync_interval_secs, { min: 5 });
  if (!f.listen_tcp.trim() && !f.listen_quic.trim()) e.listen_tcp = 'Keep at least one listener, or peers cannot reach this node.';
  for (const k of Object.keys(e)) if (!e[k]) delete e[k];
  return e;
}

/** The settings patch: only what differs from the saved configuration. */
function toPatch(f, saved) {
  const full = {
    listen_tcp: f.listen_tcp.trim() || null,
    listen_quic: f.listen_quic.trim() || null,
    advertise: lines(f.advertise),
    bootstrap: lines(f.bootstrap),
    lan: { enabled: f.lan_enabled, broadcast: f.lan_broadcast.trim(), port: Number(f.lan_port) },
    upload_limit_kib: Number(f.upload_limit_kib),
    download_limit_kib: Number(f.download_limit_kib),
    parallel_files: Number(f.parallel_files),
    free_space_reserve_mib: Number(f.free_space_reserve_mib),
    relay: { client: f.relay_client, relays: lines(f.relay_relays), enabled: f.relay_enabled },
    extensions: f.extensions,
    strict: f.strict,
    seed_downloads: f.seed_downloads,
    resume_downloads: f.resume_downloads,
    sync_interval_secs: Number(f.sync_interval_secs),
  };
  const patch = {};
  for (const [k, v] of Object.entries(full)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const sub = {};
      for (const [k2, v2] of Object.entries(v)) if (JSON.stringify(v2) !== JSON.stringify((saved[k] || {})[k2])) sub[k2] = v2;
      if (Object.keys(sub).length) patch[k] = sub;
    } else if (JSON.stringify(v) !== JSON.stringify(saved[k])) patch[k] = v;
  }
  return patch;
}

export function Settings() {
  const s = useAsync(() => api.get('/api/settings'));
  const subs = useAsync(() => api.get('/api/subscriptions'));
  const [form, setForm] = useState(null);
  const [errors, setErrors] = useState({});
  const [err, setErr] = useState(null);
  const [saved, setSaved] = useState(null);
  const [focusReq, setFocusReq] = useState(0);
  useEffect(() => {
    if (s.data && !form) setForm(toForm(s.data.settings));
  }, [s.data]);
  // After a refused save, the first field to fix gets the focus (once it is marked).
  useEffect(() => {
    const first = focusReq && document.querySelector('main [aria-invalid="true"]');
    if (first) first.focus();
  }, [focusReq]);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  const save = async () => {
    setErr(null);
    setSaved(null);
    const errs = validate(form);
    setErrors(errs);
    if (Object.keys(errs).length) {
      setFocusReq((n) => n + 1);
      return;
    }
    const patch = toPatch(form, s.data.settings);
    if (Object.keys(patch).length === 0) {
      setSaved({ restart_required: [], nothing: true });
      return;
    }
    try {
      const r = await api.post('/api/settings', patch);
      setSaved(r);
      toast('Settings saved');
      s.setData({ ...s.data, settings: r.settings });
      setForm(toForm(r.settings));
    } catch (e) {
      setErr(e);
    }
  };
  const text = (k, label, hint, opts = {}) => html`<${Field} label=${label} hint=${hint} error=${errors[k]}>
    ${(id, desc, bad) =>
      opts.multiline
        ? html`<textarea id=${id} name=${k} value=${form[k]} spellcheck="false" aria-describedby=${desc} aria-invalid=${bad ? 'true' : undefined}
            onInput=${set(k)} placeholder=${opts.placeholder}></textarea>`
        : html`<input id=${id} name=${k} type="text" inputmode=${opts.numeric ? 'numeric' : undefined} value=${form[k]} spellcheck="false"
            aria-describedby=${desc} aria-invalid=${bad ? 'true' : undefined} onInput=${set(k)} placeholder=${opts.placeholder} />`}
  <//>`;
  const check = (k, label) => html`<label class="check" style="display:flex;margin-bottom:0.5rem"><input type="checkbox" name=${k} checked=${form[k]} onChange=${set(k)} /> ${label}</label>`;
  const running = s.data && s.data.running;
  return html`<div class="page-head"><h1 tabindex="-1">Settings</h1></div>
    <${ErrorBox} error=${s.error} />
    ${!form && !s.error ? html`<${Spinner} />` : null}
    ${form
      ? html`<form onSubmit=${(e) => {
          e.preventDefault();
          save();
        }} novalidate>
          <div class="grid">
            <section class="card" aria-labelledby="s-net">
              <h2 id="s-net">Network</h2>
              ${text('listen_tcp', 'TCP listen address', running ? `Empty: no TCP listener. The running node was started with ${running.listen_tcp || 'none'}.` : 'Empty: no TCP listener', { placeholder: '0.0.0.0:7001' })}
              ${text('listen_quic', 'QUIC listen address', running ? `Empty: no QUIC listener. The running node was started with ${running.listen_quic || 'none'}.` : 'Empty: no QUIC listener', { placeholder: '0.0.0.0:7000' })}
              ${text('advertise', 'Advertised addresses', 'One per line; empty: derived from the listen addresses', { multiline: true, placeholder: 'tcp://203.0.113.5:7001' })}
              ${text('bootstrap', 'Bootstrap peers', 'One per line: peers asked first, e.g. tcp://203.0.113.5:7001', { multiline: true, placeholder: 'tcp://203.0.113.5:7001' })}
            </section>
            <section class="card" aria-labelledby="s-lan">
              <h2 id="s-lan">LAN discovery</h2>
              <p class="hint">The only automatic discovery: peers on the same network find each other.</p>
              ${check('lan_enabled', 'Find peers on the local network and announce this node there')}
              ${text('lan_broadcast', 'Broadcast address', '255.255.255.255 on a LAN; 127.255.255.255 keeps it on this machine')}
              ${text('lan_port', 'UDP port', 'SCP2P uses 46123', { numeric: true })}
            </section>
            <section class="card" aria-labelledby="s-bw">
              <h2 id="s-bw">Bandwidth and disk</h2>
              ${text('upload_limit_kib', 'Upload limit (KiB/s)', '0: unlimited', { numeric: true })}
              ${text('download_limit_kib', 'Download limit (KiB/s)', '0: unlimited', { numeric: true })}
              ${text('parallel_files', 'Files downloaded at once', '1 to 64', { numeric: true })}
              ${text('free_space_reserve_mib', 'Free space to keep (MiB)', 'Downloads stop before the disk gets fuller than this', { numeric: true })}
            </section>
            <section class="card" aria-labelledby="s-relay">
              <h2 id="s-relay">Relays</h2>
              <${Field} label="Use a relay">
                ${(id) => html`<select id=${id} name="relay_client" value=${form.relay_client} onChange=${set('relay_client')}>
                  <option value="auto">When this node cannot be reached (automatic)</option>
                  <option value="always">Always (behind NAT or a firewall)</option>
                  <option value="never">Never</option></select>`}
              <//>
              ${text('relay_relays', 'Relays to try first', 'One per line, with @<node key> if you know it', { multiline: true })}
              ${check('relay_enabled', 'Relay for other nodes that cannot be reached')}
            </section>
            <section class="card" aria-labelledby="s-proto">
              <h2 id="s-proto">Behaviour</h2>
              ${check('seed_downloads', 'Serve what this node downloaded to others')}
              ${check('resume_downloads', 'Resume unfinished downloads when the node starts')}
              ${text('sync_interval_secs', 'Check followed shares every (seconds)', 'New revisions pushed by peers arrive sooner', { numeric: true })}
              ${check('extensions', 'trove protocol extensions (off: behave exactly as an SCP2P v1 peer)')}
              ${check('strict', 'Refuse peers without channel binding (SCP2P v1-only peers)')}
            </section>
            <section class="card" aria-labelledby="s-dir">
              <h2 id="s-dir">Data directory</h2>
              <p class="mono">${s.data.data_dir}</p>
              <p class="hint">Keys, the database and the search index live here. To use another one, start the node with${' '}
                <code>trove serve --data-dir DIR</code> (or <code>TROVE_DATA_DIR</code>). These settings are saved in${' '}
                <span class="mono">${s.data.config_file}</span>.</p>
            </section>
          </div>
          <div class="actions">
            <button type="button" class="btn" onClick=${() => {
              setForm(toForm(s.data.settings));
              setErrors({});
              setSaved(null);
            }}>Undo changes</button>
            <${ActionButton} type="button" class="btn-primary" onClick=${save} busyLabel="Saving…">Save settings<//>
          </div>
          ${Object.keys(errors).length
            ? html`<div class="msg msg-error" role="alert">Some settings need fixing: ${Object.values(errors).join(' ')}</div>`
            : null}
          <${ErrorBox} error=${err} title="Not saved" />
          ${saved && saved.nothing ? html`<${Note}>Nothing changed.<//>` : null}
          ${saved && !saved.nothing
            ? html`<${Note} kind="ok">Saved.${saved.restart_required.length
                ? html` Restart <code>trove serve</code> to apply: ${saved.restart_required.join(', ')}.`
                : ' The change applies at once or at the next start.'}<//>`
            : null}
        </form>`
      : null}
    <${TrustTable} subs=${subs} />`;
}

function TrustTable({ subs }) {
  const [err, setErr] = useState(null);
  const update = async (share_id, patch) => {
    setErr(null);
    try {
      await api.post('/api/subscriptions/update', { share: share_id, ...patch });
      toast('Saved');
      subs.reload();
    } catch (e) {
      setErr(e);
    }
  };
  return html`<section class="card" aria-labelledby="s-trust" style="margin-top:1rem">
    <h2 id="s-trust">Trust and blocklists</h2>
    <p class="hint">Search shows trusted and normal shares unless asked otherwise. A blocklist share hides the shares and files it lists.</p>
    <${ErrorBox} error=${subs.error || err} />
    <div class="table-wrap">
      <table class="stacked">
        <thead><tr><th>Share</th><th>Trust</th><th>Blocklist</th></tr></thead>
        <tbody>
          ${subs.data && subs.data.length === 0 ? html`<${EmptyRow} cols="3">You do not follow any share.<//>` : null}
          ${(subs.data || []).map(
            (s) => html`<tr key=${s.share_id}>
              <td data-label="Share">${fmt.shareName(s)} <span class="muted mono">${fmt.short(s.share_id)}</span></td>
              <td data-label="Trust"><select value=${s.trust} aria-label=${'Trust of ' + fmt.shareName(s)}
                onChange=${(e) => update(s.share_id, { trust: e.target.value })}>
                <option value="trusted">Trusted</option><option value="normal">Normal</option><option value="untrusted">Untrusted</option></select></td>
              <td data-label="Blocklist"><input type="checkbox" checked=${s.blocklist} aria-label=${'Use ' + fmt.shareName(s) + ' as a blocklist'}
                onChange=${(e) => update(s.share_id, { blocklist: e.target.checked })} /></td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
  </section>`;
}
