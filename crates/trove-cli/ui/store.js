// What the page learns from the event stream and keeps across pages: live download
// progress and rates, peers that connected, publishing progress, and which revision of each
// share the person has already looked at ("new revision" marks).

import { useState, useEffect } from './vendor/htm-preact.mjs';
import * as api from './api.js';

/** download id -> {bytes_done, bytes_total, rate_bps, peers, at, done, error} */
export const downloads = new Map();
/** node id -> {node_id, addr, transport, trove, at} */
export const connected = new Map();
/** The latest publish_progress event, or null. */
export let publishing = null;

const subs = new Set();
let pending = false;
function changed() {
  if (pending) return;
  pending = true;
  // At most one re-render per animation frame however many events arrive.
  requestAnimationFrame(() => {
    pending = false;
    subs.forEach((f) => f());
  });
}

/** Re-renders the calling component when live data changes. */
export function useLive() {
  const [, tick] = useState(0);
  useEffect(() => {
    const f = () => tick((n) => n + 1);
    subs.add(f);
    return () => subs.delete(f);
  }, []);
}

/** Bytes per second over all downloads that reported in the last 3 seconds. */
export function downloadRate() {
  const now = Date.now();
  let sum = 0;
  for (const d of downloads.values()) if (!d.done && now - d.at < 3000) sum += d.rate_bps || 0;
  return sum;
}

let started = false;
export function start() {
  if (started) return;
  started = true;
  api.on('download_progress', (e) => {
    downloads.set(e.download_id, {
      bytes_done: e.bytes_done,
      bytes_total: e.bytes_total,
      rate_bps: e.rate_bps,
      peers: e.peers,
      at: Date.now(),
      done: false,
      error: null,
    });
    changed();
  });
  api.on('download_complete', (e) => {
    const d = downloads.get(e.download_id) || {};
    downloads.set(e.download_id, { ...d, bytes_done: e.bytes, bytes_total: e.bytes, rate_bps: 0, at: Date.now(), done: true, error: null });
    changed();
  });
  api.on('download_failed', (e) => {
    const d = downloads.get(e.download_id) || {};
    downloads.set(e.download_id, { ...d, rate_bps: 0, at: Date.now(), error: e.error });
    changed();
  });
  api.on('peer_connected', (e) => {
    connected.set(e.node_id, { ...e, at: Date.now() });
    changed();
  });
  api.on('publish_progress', (e) => {
    publishing = e;
    changed();
  });
  api.on('published', () => {
    publishing = null;
    changed();
  });
}

// --- revisions already looked at ---------------------------------------------------------

const SEEN = 'trove.seen.';

/** Whether `seq` of a share is newer than the revision last opened here. */
export function isNew(shareId, seq) {
  if (seq === null || seq === undefined) return false;
  const seen = localStorage.getItem(SEEN + shareId);
  return seen !== null && Number(seen) < seq;
}

const seenSubs = new Set();

/** Re-renders the calling component when a share is marked as seen. */
export function useSeen() {
  const [, tick] = useState(0);
  useEffect(() => {
    const f = () => tick((n) => n + 1);
    seenSubs.add(f);
    return () => seenSubs.delete(f);
  }, []);
}

/** Remembers that revision `seq` of a share was looked at. */
export function markSeen(shareId, seq) {
  if (seq === null || seq === undefined) return;
  const seen = localStorage.getItem(SEEN + shareId);
  if (seen === null || Number(seen) < seq) {
    localStorage.setItem(SEEN + shareId, String(seq));
    seenSubs.forEach((f) => f());
  }
}

/** Remembers the revision of a share first seen, so a later one is marked new. */
export function noteFirstSeen(shareId, seq) {
  if (seq === null || seq === undefined) return;
  if (localStorage.getItem(SEEN + shareId) === null) localStorage.setItem(SEEN + shareId, String(seq));
}
