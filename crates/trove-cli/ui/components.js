// Pieces every page uses: hooks over the API and its events, messages, dialogs, the folder
// picker, progress bars, copy buttons and QR codes. Plain Preact components written with htm.

import { html, useState, useEffect, useLayoutEffect, useRef, useCallback } from './vendor/htm-preact.mjs';
import { encode } from './vendor/uqr.mjs';
import * as api from './api.js';
import * as fmt from './format.js';

export { html, useState, useEffect, useLayoutEffect, useRef, useCallback };

let nextId = 0;
/** A stable unique id for label/aria pairs. */
export function useId(prefix = 'f') {
  const r = useRef(null);
  if (r.current === null) r.current = `${prefix}-${++nextId}`;
  return r.current;
}

/**
 * Runs `load` now and when `deps` change; `reload()` runs it again. Keeps the last data
 * while reloading (no flicker on live updates).
 */
export function useAsync(load, deps = []) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const seq = useRef(0);
  const reload = useCallback(() => {
    const n = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    Promise.resolve()
      .then(load)
      .then(
        (data) => n === seq.current && setState({ data, error: null, loading: false }),
        (error) => n === seq.current && setState((s) => ({ data: s.data, error, loading: false })),
      );
  }, deps);
  useEffect(() => {
    reload();
  }, [reload]);
  return { ...state, reload, setData: (data) => setState((s) => ({ ...s, data })) };
}

/** Calls `f` for each node event of the given types while the component is shown. */
export function useEvents(types, f) {
  const ref = useRef(f);
  ref.current = f;
  useEffect(() => {
    const offs = types.map((t) => api.on(t, (ev) => ref.current(ev)));
    return () => offs.forEach((off) => off());
  }, [types.join(',')]);
}

/** Like useEvents, but batches bursts: `f` runs at most once per `ms` (for reloads). */
export function useEventsReload(types, f, ms = 300) {
  const timer = useRef(null);
  useEffect(() => () => clearTimeout(timer.current), []);
  useEvents(types, () => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      f();
    }, ms);
  });
}

// --- messages --------------------------------------------------------------------------

/** An error in words, announced to screen readers. */
export function ErrorBox({ error, title }) {
  if (!error) return null;
  const msg = typeof error === 'string' ? error : error.message || String(error);
  return html`<div class="msg msg-error" role="alert">
    ${title ? html`<strong>${title}: </strong>` : null}<span class="msg-text">${msg}</span>
  </div>`;
}

/** A neutral or good message. */
export function Note({ kind = 'info', children }) {
  return html`<div class=${'msg msg-' + kind} role="status">${children}</div>`;
}

// Toasts: short confirmations at the bottom of the screen, in an aria-live region.
const toastSubs = new Set();
let toasts = [];
export function toast(text, kind = 'ok') {
  const t = { id: ++nextId, text, kind };
  toasts = [...toasts, t];
  toastSubs.forEach((f) => f(toasts));
  setTimeout(() => {
    toasts = toasts.filter((x) => x !== t);
    toastSubs.forEach((f) => f(toasts));
  }, 6000);
}

export function Toasts() {
  const [list, setList] = useState(toasts);
  useEffect(() => {
    toastSubs.add(setList);
    return () => toastSubs.delete(setList);
  }, []);
  return html`<div class="toasts" aria-live="polite" role="status">
    ${list.map((t) => html`<div key=${t.id} class=${'toast toast-' + t.kind}>${t.text}</div>`)}
  </div>`;
}

export function Spinner({ label = 'Loading…' }) {
  return html`<span class="spinner" role="status"><span class="spinner-dot" aria-hidden="true"></span>${label}</span>`;
}

export function Badge({ kind = 'plain', title, children }) {
  return html`<span class=${'badge badge-' + kind} title=${title}>${children}</span>`;
}

// --- form pieces -----------------------------------------------------------------------

/** A labelled field: `children(id, describedBy)` renders the control. */
export function Field({ label, hint, error, children, class: cls }) {
  const id = useId('field');
  const hintId = hint ? id + '-hint' : undefined;
  const errId = error ? id + '-err' : undefined;
  const described = [hintId, errId].filter(Boolean).join(' ') || undefined;
  return html`<div class=${'field ' + (cls || '') + (error ? ' field-invalid' : '')}>
    <label for=${id}>${label}</label>
    ${children(id, described, !!error)}
    ${hint ? html`<div class="hint" id=${hintId}>${hint}</div>` : null}
    ${error ? html`<div class="field-error" id=${errId}>${error}</div>` : null}
  </div>`;
}

/** A button that runs an async action, disabled (and saying so) while it runs. */
export function ActionButton({ onClick, children, busyLabel, class: cls = '', disabled, title, type = 'button', ...rest }) {
  const [busy, setBusy] = useState(false);
  const mounted = useRef(true);
  useEffect(() => () => (mounted.current = false), []);
  const click = async (e) => {
    if (busy) return;
    setBusy(true);
    try {
      await onClick(e);
    } finally {
      if (mounted.current) setBusy(false);
    }
  };
  return html`<button type=${type} class=${'btn ' + cls} onClick=${click} disabled=${disabled || busy}
    aria-busy=${busy ? 'true' : undefined} title=${title} ...${rest}>${busy && busyLabel ? busyLabel : children}</button>`;
}

/** Puts `text` on the clipboard (with the old way as a fallback). */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.appendChild(ta);
    ta.select();
    try {
      document.execCommand('copy');
    } catch {}
    ta.remove();
  }
}

/** Copies `text`; says so. */
export function CopyButton({ text, label = 'Copy', class: cls = '' }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    await copyText(text);
    setDone(true);
    toast('Copied to the clipboard');
    setTimeout(() => setDone(false), 2000);
  };
  return html`<button type="button" class=${'btn btn-small ' + cls} onClick=${copy}>${done ? 'Copied ✓' : label}</button>`;
}

/** A progress bar with its label in words. */
export function Progress({ value, max, label }) {
  const pct = max > 0 ? Math.min(100, (100 * value) / max) : value > 0 ? 100 : 0;
  return html`<div class="progress">
    <progress value=${pct} max="100" aria-label=${label} aria-valuetext=${pct.toFixed(0) + '%'}></progress>
    <span class="progress-pct">${pct.toFixed(pct < 10 && pct > 0 ? 1 : 0)}%</span>
  </div>`;
}

// --- dialogs ---------------------------------------------------------------------------

/** A modal dialog (native <dialog>: focus stays inside, Escape closes). */
export function Dialog({ open, onClose, title, children, class: cls = '' }) {
  const ref = useRef(null);
  const titleId = useId('dlg');
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  useEffect(() => {
    const d = ref.current;
    const cancel = (e) => {
      e.preventDefault();
      onClose && onClose();
    };
    d.addEventListener('cancel', cancel);
    return () => d.removeEventListener('cancel', cancel);
  }, [onClose]);
  return html`<dialog ref=${ref} class=${'dialog ' + cls} aria-labelledby=${titleId}>
    ${open
      ? html`<div class="dialog-head">
            <h2 id=${titleId}>${title}</h2>
            <button type="button" class="btn btn-ghost btn-small" onClick=${onClose} aria-label="Close">✕</button>
          </div>
          <div class="dialog-body">${children}</div>`
      : null}
  </dialog>`;
}

/** Asks before doing something that cannot be taken back. */
export function Confirm({ open, title, children, confirmLabel = 'Continue', danger, onConfirm, onClose }) {
  return html`<${Dialog} open=${open} title=${title} onClose=${onClose}>
    <div class="confirm-text">${children}</div>
    <div class="actions">
      <button type="button" class="btn" onClick=${onClose}>Cancel</button>
      <${ActionButton} class=${danger ? 'btn-danger' : 'btn-primary'} onClick=${async () => {
        await onConfirm();
      }}>${confirmLabel}<//>
    </div>
  <//>`;
}

/**
 * Browses the daemon's file system to choose a folder (`mode="dir"`) or files and folders
 * (`mode="any"`, several at once). Calls `onPick(paths)`.
 */
export function FolderPicker(props) {
  return native.dialog ? html`<${NativePicker} ...${props} />` : html`<${WebPicker} ...${props} />`;
}

/**
 * The desktop app's native features (`window.__TAURI__`, present only inside the trove
 * desktop window): file dialogs and "reveal in file manager". Empty in a browser.
 */
export const native = {
  dialog: (typeof window !== 'undefined' && window.__TAURI__ && window.__TAURI__.dialog) || null,
  opener: (typeof window !== 'undefined' && window.__TAURI__ && window.__TAURI__.opener) || null,
};

/** The operating system's file dialog, in the desktop app. */
function NativePicker({ open, onClose, onPick, mode = 'dir', start, title }) {
  const [choose, setChoose] = useState(false);
  const ask = async (directory) => {
    try {
      const r = await native.dialog.open({ directory, multiple: mode === 'any', defaultPath: start, title });
      const paths = r == null ? [] : Array.isArray(r) ? r : [r];
      if (paths.length) onPick(mode === 'dir' ? paths[0] : paths);
      else onClose();
    } catch (e) {
      onClose();
      toast('The file dialog failed: ' + e);
    }
  };
  useEffect(() => {
    if (!open) return setChoose(false);
    if (mode === 'dir') ask(true);
    else setChoose(true);
  }, [open]);
  // Files and folders: the system dialogs pick one kind at a time, so ask which.
  return html`<${Dialog} open=${open && choose} title=${title || 'Add files or a folder'} onClose=${onClose}>
    <div class="actions">
      <button type="button" class="btn" onClick=${() => { setChoose(false); ask(false); }}>Files…</button>
      <button type="button" class="btn btn-primary" onClick=${() => { setChoose(false); ask(true); }}>A folder…</button>
    </div>
  <//>`;
}

function WebPicker({ open, onClose, onPick, mode = 'dir', start, title }) {
  const [path, setPath] = useState(start || '');
  const [typed, setTyped] = useState(start || '');
  const [picked, setPicked] = useState([]);
  const [hidden, setHidden] = useState(false);
  // The person is typing a path: a listing that arrives meanwhile must not replace it.
  const editing = useRef(false);
  const listing = useAsync(() => (open ? api.get('/api/fs', { path, hidden: hidden ? 'true' : '' }) : null), [open, path, hidden]);
  const goTo = (p) => {
    editing.current = false;
    setPath(p);
  };
  useEffect(() => {
    if (open) {
      editing.current = false;
      setPath(start || '');
      setTyped(start || '');
      setPicked([]);
    }
  }, [open]);
  useEffect(() => {
    if (listing.data && !editing.current) setTyped(listing.data.path);
  }, [listing.data]);
  const l = listing.data;
  const toggle = (p) => setPicked((cur) => (cur.includes(p) ? cur.filter((x) => x !== p) : [...cur, p]));
  const go = (e) => {
    e.preventDefault();
    goTo(typed.trim());
  };
  return html`<${Dialog} open=${open} onClose=${onClose} title=${title || (mode === 'dir' ? 'Choose a folder' : 'Choose files or folders')} class="picker">
    <form class="picker-path" onSubmit=${go}>
      <label for="picker-path-input" class="sr-only">Folder</label>
      <input id="picker-path-input" type="text" value=${typed} spellcheck="false" onInput=${(e) => {
        editing.current = true;
        setTyped(e.target.value);
      }} />
      <button type="submit" class="btn btn-small">Go</button>
      <button type="button" class="btn btn-small" disabled=${!l || !l.parent} onClick=${() => l && l.parent && goTo(l.parent)}>Up</button>
      ${l && l.home ? html`<button type="button" class="btn btn-small" onClick=${() => goTo(l.home)}>Home</button>` : null}
    </form>
    <label class="check"><input type="checkbox" checked=${hidden} onChange=${(e) => setHidden(e.target.checked)} /> Show hidden files</label>
    <${ErrorBox} error=${listing.error} />
    <ul class="picker-list" aria-label="Contents of the folder">
      ${l && l.entries.length === 0 ? html`<li class="muted">This folder is empty.</li>` : null}
      ${l &&
      l.entries
        .filter((e) => mode !== 'dir' || e.is_dir)
        .map(
          (e) => html`<li key=${e.path}>
            ${mode === 'any'
              ? html`<input type="checkbox" id=${'pick-' + e.path} checked=${picked.includes(e.path)} onChange=${() => toggle(e.path)}
                  aria-label=${'Select ' + e.name} />`
              : null}
            ${e.is_dir
              ? html`<button type="button" class="link" onClick=${() => goTo(e.path)} aria-label=${'Open folder ' + e.name}>${e.name}/</button>`
              : html`<label for=${'pick-' + e.path}>${e.name} <span class="muted">${fmt.bytes(e.size)}</span></label>`}
          </li>`,
        )}
      ${l && l.truncated ? html`<li class="muted">Only the first entries are listed.</li>` : null}
    </ul>
    <div class="actions">
      <button type="button" class="btn" onClick=${onClose}>Cancel</button>
      ${mode === 'dir'
        ? html`<button type="button" class="btn btn-primary" disabled=${!l} onClick=${() => onPick([l.path])}>Use this folder</button>`
        : html`<button type="button" class="btn" disabled=${!l} onClick=${() => onPick([l.path])}>Add this whole folder</button>
            <button type="button" class="btn btn-primary" disabled=${picked.length === 0} onClick=${() => onPick(picked)}>
              Add ${picked.length || ''} selected
            </button>`}
    </div>
  <//>`;
}

/** A QR code of `text`, drawn as SVG squares. */
export function QrCode({ text, label }) {
  let qr;
  try {
    qr = encode(text, { ecc: 'M', border: 2 });
  } catch (e) {
    return html`<${ErrorBox} error=${'This link is too long for a QR code (' + e.message + ').'} />`;
  }
  const cells = [];
  for (let y = 0; y < qr.size; y++) {
    for (let x = 0; x < qr.size; x++) {
      if (qr.data[y][x]) cells.push(`M${x},${y}h1v1h-1z`);
    }
  }
  return html`<svg class="qr" viewBox=${`0 0 ${qr.size} ${qr.size}`} role="img" aria-label=${label || 'QR code'}
      shape-rendering="crispEdges" xmlns="http://www.w3.org/2000/svg">
    <rect width=${qr.size} height=${qr.size} fill="#fff" />
    <path d=${cells.join('')} fill="#000" />
  </svg>`;
}

/** A table that turns into stacked rows on a narrow window (labels from `data-label`). */
export function EmptyRow({ cols, children }) {
  return html`<tr><td colspan=${cols} class="muted empty">${children}</td></tr>`;
}
