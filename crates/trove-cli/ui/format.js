// Numbers and names as people read them.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 -> "1.5 KiB". */
export function bytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + UNITS[i];
}

/** Bytes per second -> "1.2 MiB/s". */
export function rate(bps) {
  if (!bps) return '–';
  return bytes(bps) + '/s';
}

/** Seconds -> "1 h 4 min", "12 s". */
export function duration(secs) {
  if (secs === null || secs === undefined || !Number.isFinite(secs)) return '–';
  const s = Math.max(0, Math.round(secs));
  if (s < 60) return s + ' s';
  const m = Math.floor(s / 60);
  if (m < 60) return m + ' min ' + (s % 60) + ' s';
  const h = Math.floor(m / 60);
  if (h < 48) return h + ' h ' + (m % 60) + ' min';
  return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
}

/** Unix seconds -> "3 min ago". */
export function ago(unix) {
  if (!unix) return 'never';
  const d = Date.now() / 1000 - unix;
  if (d < 5) return 'just now';
  return duration(d).replace(/ \d+ s$/, '') + ' ago';
}

/** Unix seconds -> a local date and time. */
export function when(unix) {
  if (!unix) return '–';
  return new Date(unix * 1000).toLocaleString();
}

/** The first 8 hex digits, for display next to the full id in a title. */
export function short(id) {
  return id ? String(id).slice(0, 8) : '';
}

/** "1 file", "3 files". */
export function plural(n, one, many) {
  return n + ' ' + (n === 1 ? one : many || one + 's');
}

/** Parses a size typed by a person: "4096", "10k", "1.5 MB", "2 GiB" -> bytes, or NaN. */
export function parseSize(text) {
  const t = String(text).trim();
  if (!t) return null;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(t);
  if (!m) return NaN;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase()];
  return Math.round(parseFloat(m[1]) * mult);
}

/** The kind of a file for display, from its mime type or name. */
export function kind(mime, name) {
  const m = mime || '';
  if (m.startsWith('image/')) return 'image';
  if (m.startsWith('video/')) return 'video';
  if (m.startsWith('audio/')) return 'audio';
  if (m.startsWith('text/')) return 'text';
  if (m === 'application/pdf') return 'PDF';
  if (/zip|tar|compressed|x-7z|rar|gzip/.test(m)) return 'archive';
  const ext = (name || '').includes('.') ? name.split('.').pop().toLowerCase() : '';
  return ext ? ext + ' file' : 'file';
}

/** A share's name for display. */
export function shareName(s) {
  return (s && (s.title || s.name)) || (s && s.share_id ? 'Share ' + short(s.share_id) : 'Untitled share');
}

/** The transport of an address such as "quic://127.0.0.1:7000@ab…". */
export function transport(addr) {
  const m = /^([a-z]+):\/\//.exec(addr || '');
  return m ? m[1].toUpperCase() : '–';
}
