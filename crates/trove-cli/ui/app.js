// The trove web UI: token handling, the page frame (navigation, connection state) and the
// router. Pages live in pages/; everything talks to the local HTTP API of `trove serve`.

import { html, render, useState, useEffect, useRef } from './vendor/htm-preact.mjs';
import * as api from './api.js';
import * as store from './store.js';
import { Toasts, Field } from './components.js';
import { Dashboard } from './pages/dashboard.js';
import { Discover } from './pages/discover.js';
import { Shares } from './pages/shares.js';
import { Search } from './pages/search.js';
import { Downloads } from './pages/downloads.js';
import { Communities } from './pages/communities.js';
import { Settings } from './pages/settings.js';

const PAGES = [
  { id: 'dashboard', label: 'Dashboard', icon: '◎', Page: Dashboard },
  { id: 'discover', label: 'Discover', icon: '☷', Page: Discover },
  { id: 'shares', label: 'My shares', icon: '⇪', Page: Shares },
  { id: 'search', label: 'Search', icon: '⌕', Page: Search },
  { id: 'downloads', label: 'Downloads', icon: '⇩', Page: Downloads },
  { id: 'communities', label: 'Communities', icon: '◈', Page: Communities },
  { id: 'settings', label: 'Settings', icon: '⚙', Page: Settings },
];

/** "#/discover/ab12…" -> {page: 'discover', arg: 'ab12…'} */
function parseRoute() {
  const h = location.hash.replace(/^#\/?/, '');
  const [page, ...rest] = h.split('/');
  const known = PAGES.some((p) => p.id === page);
  return { page: known ? page : 'dashboard', arg: known ? decodeURIComponent(rest.join('/')) : '' };
}

function useRoute() {
  const [route, setRoute] = useState(parseRoute());
  useEffect(() => {
    const f = () => setRoute(parseRoute());
    window.addEventListener('hashchange', f);
    return () => window.removeEventListener('hashchange', f);
  }, []);
  return route;
}

function Login({ error, onToken }) {
  const [value, setValue] = useState('');
  const [err, setErr] = useState(error);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const t = value.trim();
    if (!/^[0-9a-fA-F]{16,}$/.test(t)) {
      setErr('The token is the long hex number in the api-token file of the data directory.');
      return;
    }
    setBusy(true);
    api.setToken(t);
    try {
      await api.get('/api/health');
      onToken(t);
    } catch (e2) {
      api.setToken(null);
      setErr(e2.status === 401 ? 'This token was refused: it is not the token of this node.' : e2.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login" id="main">
    <h1>trove</h1>
    <p>This page controls the trove node on this computer. Open it with the address that${' '}
      <code>trove serve</code> prints, or run <code>trove ui</code>; or paste the API token
      from the file <code>api-token</code> in the node's data directory.</p>
    <form onSubmit=${submit} class="card">
      <${Field} label="API token" error=${err}>
        ${(id, desc, bad) => html`<input id=${id} type="password" autocomplete="off" value=${value}
          aria-describedby=${desc} aria-invalid=${bad ? 'true' : undefined}
          onInput=${(e) => setValue(e.target.value)} />`}
      <//>
      <button type="submit" class="btn btn-primary" disabled=${busy}>${busy ? 'Checking…' : 'Open'}</button>
    </form>
  </main>`;
}

function ConnectionState() {
  const [state, setState] = useState('connecting');
  useEffect(() => api.onConnection(setState), []);
  const text = { open: 'Connected', connecting: 'Reconnecting to the node…', closed: 'Disconnected' }[state];
  return html`<span class=${'conn conn-' + state} role="status" aria-live="polite" title="Live updates from the node">
    <span class="conn-dot" aria-hidden="true"></span>${text}</span>`;
}

function Shell() {
  const route = useRoute();
  const current = PAGES.find((p) => p.id === route.page) || PAGES[0];
  const first = useRef(true);
  const [conn, setConn] = useState('connecting');
  useEffect(() => api.onConnection(setConn), []);
  // A link opened from outside (#/discover/scp2p://…) shows the subscribe dialog.
  const title = (route.page === 'discover' && route.arg.startsWith('scp2p://') ? 'Subscribe' : current.label) + ' · trove';
  useEffect(() => {
    document.title = title;
  }, [title]);
  useEffect(() => {
    // On a narrow window the navigation scrolls sideways: keep the current page in sight.
    // (Scrolling the bar itself, not scrollIntoView, which would move where Tab starts.)
    const nav = document.querySelector('nav.nav');
    const link = nav && nav.querySelector('a[aria-current="page"]');
    if (link && nav.scrollWidth > nav.clientWidth) {
      const left = link.offsetLeft - nav.offsetLeft;
      if (left < nav.scrollLeft || left + link.offsetWidth > nav.scrollLeft + nav.clientWidth) {
        nav.scrollLeft = Math.max(0, left - 16);
      }
    }
    if (first.current) {
      first.current = false;
      return;
    }
    // Move focus to the new page's heading, so keyboard and screen reader users land there.
    const h = document.querySelector('main h1');
    if (h) h.focus();
  }, [route.page]);
  const Page = current.Page;
  return html`<a class="skip" href="#main" onClick=${(e) => {
      e.preventDefault();
      document.getElementById('main').focus();
    }}>Skip to the page</a>
    <div class="shell">
      <header class="top">
        <a class="brand" href="#/dashboard"><img src="/ui/favicon.svg" alt="" width="24" height="24" /> trove</a>
        <${ConnectionState} />
      </header>
      <nav class="nav" aria-label="Pages">
        <ul>
          ${PAGES.map(
            (p) => html`<li key=${p.id}>
              <a href=${'#/' + p.id} aria-current=${p.id === current.id ? 'page' : undefined}>
                <span class="nav-icon" aria-hidden="true">${p.icon}</span>${p.label}</a>
            </li>`,
          )}
        </ul>
      </nav>
      <main id="main" tabindex="-1">
        ${conn === 'connecting'
          ? html`<div class="msg msg-warn banner" role="status">The live connection to the node dropped; reconnecting… (is <code>trove serve</code> running?)</div>`
          : null}
        <${Page} key=${current.id} arg=${route.arg} />
      </main>
    </div>
    <${Toasts} />`;
}

function App() {
  const [tok, setTok] = useState(() => api.takeToken());
  const [authError, setAuthError] = useState(null);
  useEffect(
    () =>
      api.onUnauthorized(() => {
        api.setToken(null);
        api.stopEvents();
        setAuthError('The node refused the API token (it may have been renewed). Paste the current one.');
        setTok(null);
      }),
    [],
  );
  useEffect(() => {
    if (tok) {
      store.start();
      api.startEvents();
    }
  }, [tok]);
  if (!tok) return html`<${Login} error=${authError} onToken=${(t) => setTok(t)} />`;
  return html`<${Shell} />`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);

// For the end-to-end tests: tells that the page has started.
document.documentElement.dataset.ready = 'true';
