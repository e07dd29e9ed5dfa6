// Dashboard: who this node is, where it listens, how others reach it, its peers, the DHT,
// transfers and disk use. Reloads when peers connect or downloads finish; the transfer rate
// comes from the download progress events.

import { html, useAsync, useEventsReload, ErrorBox, Spinner, CopyButton, Badge, EmptyRow } from '../components.js';
import * as api from '../api.js';
import * as fmt from '../format.js';
import * as store from '../store.js';

export function Dashboard() {
  const d = useAsync(() => api.get('/api/dashboard'));
  store.useLive();
  useEventsReload(
    ['peer_connected', 'download_complete', 'download_failed', 'published', 'manifest_updated', 'stream_open',
      'relay_tunnel_up', 'relay_tunnel_lost'],
    d.reload,
    1000,
  );
  // LAN peers announce themselves every few seconds: a slower reload is enough for them.
  useEventsReload(['lan_peer'], d.reload, 10000);
  const x = d.data;
  return html`<div class="page-head"><h1 tabindex="-1">Dashboard</h1></div>
    <${ErrorBox} error=${d.error} />
    ${!x && !d.error ? html`<${Spinner} />` : null}
    ${x ? html`<${Body} x=${x} />` : null}`;
}

function reachText(r) {
  if (r.mode === 'relayed') return 'Relayed';
  if (r.mode === 'connecting') return 'Connecting to a relay';
  return 'Direct';
}

function Body({ x }) {
  const s = x.status;
  const rate = store.downloadRate();
  const active = [...store.downloads.values()].filter((d) => !d.done && !d.error && Date.now() - d.at < 3000).length;
  const connected = [...store.connected.values()];
  return html`
    <div class="grid" aria-label="At a glance">
      <div class="card"><div class="stat-label">Peers known</div><div class="stat" data-testid="peers-count">${x.peers.length}</div>
        <div class="muted">${connected.length} connected since this page opened</div></div>
      <div class="card"><div class="stat-label">DHT</div><div class="stat">${s.dht_table}</div>
        <div class="muted">nodes in the routing table · ${s.dht_records} records stored</div></div>
      <div class="card"><div class="stat-label">Download rate</div><div class="stat">${fmt.rate(rate)}</div>
        <div class="muted">${active} file${active === 1 ? '' : 's'} transferring · limit ${x.download_limit_kib ? x.download_limit_kib + ' KiB/s' : 'none'}</div></div>
      <div class="card"><div class="stat-label">Upload limit</div><div class="stat">${x.upload_limit_kib ? x.upload_limit_kib + ' KiB/s' : 'none'}</div>
        <div class="muted">serving ${s.shares} share${s.shares === 1 ? '' : 's'}, ${fmt.bytes(x.disk.shared_bytes)}</div></div>
    </div>
    <div class="grid" style="margin-top:1rem">
      <section class="card" aria-labelledby="id-h">
        <h2 id="id-h">Identity</h2>
        <dl class="facts">
          <dt>Node id</dt><dd><span class="mono" data-testid="node-id">${s.node_id}</span> <${CopyButton} text=${s.node_id} /></dd>
          <dt>Public key</dt><dd class="mono">${s.node_pubkey}</dd>
          <dt>Protocol</dt><dd>${s.extensions ? 'SCP2P v1 with trove extensions' : 'SCP2P v1 only'}</dd>
          <dt>Version</dt><dd>${s.daemon ? s.daemon.version : '–'}${s.daemon ? html` · running since ${fmt.when(s.daemon.started_at)}` : null}</dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="net-h">
        <h2 id="net-h">Network</h2>
        <dl class="facts">
          <dt>Reachability</dt><dd><${Badge} kind=${x.reachability.mode === 'direct' ? 'ok' : 'new'}>${reachText(x.reachability)}<//>
            ${x.reachability.relay ? html` through <span class="mono">${x.reachability.relay.relay}</span>` : null}</dd>
          <dt>Listening</dt><dd>${[s.listen_tcp && 'TCP ' + s.listen_tcp, s.listen_quic && 'QUIC ' + s.listen_quic].filter(Boolean).join(' · ') || 'not listening'}</dd>
          <dt>Reachable at</dt><dd>${x.reachability.addresses.length
            ? html`<ul class="list">${x.reachability.addresses.map((a) => html`<li key=${a} class="mono">${a}</li>`)}</ul>`
            : html`<span class="muted">no address</span>`}</dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="disk-h">
        <h2 id="disk-h">Disk</h2>
        <dl class="facts">
          <dt>Data directory</dt><dd><span class="mono">${s.data_dir}</span></dd>
          <dt>Used by trove</dt><dd>${fmt.bytes(x.disk.data_dir_bytes)} (database, index, keys)</dd>
          <dt>Downloaded</dt><dd>${fmt.bytes(x.disk.downloaded_bytes)}</dd>
          <dt>Shared in place</dt><dd>${fmt.bytes(x.disk.shared_bytes)}</dd>
          <dt>Free on the disk</dt><dd>${x.disk.free_bytes != null ? fmt.bytes(x.disk.free_bytes) + ' of ' + fmt.bytes(x.disk.total_bytes) : '–'}</dd>
        </dl>
        ${s.recovered_database ? html`<${ErrorBox} error=${'The database was damaged and rebuilt; the damaged file is ' + s.recovered_database} />` : null}
      </section>
    </div>
    <section class="card" style="margin-top:1rem" aria-labelledby="peers-h">
      <h2 id="peers-h">Peers</h2>
      <div class="table-wrap">
        <table class="stacked">
          <caption class="sr-only">Known peers, best first</caption>
          <thead><tr><th>Address</th><th>Transport</th><th>Kind</th><th>Found by</th><th>Last answer</th><th class="num">Failures</th></tr></thead>
          <tbody>
            ${x.peers.length === 0 ? html`<${EmptyRow} cols="6">No peers yet. Subscribe to a share link, add bootstrap peers in Settings, or wait for LAN peers.<//>` : null}
            ${x.peers.map((p) => {
              const live = p.node_pubkey && [...store.connected.values()].some((c) => p.addr.includes(c.addr));
              return html`<tr key=${p.addr}>
                <td data-label="Address" class="mono">${p.addr.replace(/^[a-z]+:\/\//, '')}</td>
                <td data-label="Transport">${fmt.transport(p.addr)}</td>
                <td data-label="Kind">${p.trove ? 'trove' : 'SCP2P v1'}${live ? html` <${Badge} kind="ok">connected<//>` : null}</td>
                <td data-label="Found by">${p.source}</td>
                <td data-label="Last answer">${fmt.ago(p.last_ok)}</td>
                <td data-label="Failures" class="num">${p.failures}</td>
              </tr>`;
            })}
          </tbody>
        </table>
      </div>
    </section>`;
}
