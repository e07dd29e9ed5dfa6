// The selection of a share's file tree: folders load lazily (one `ls` level at a time), a
// checked folder stands for everything below it, and folders show checked, unchecked or
// mixed. Pure logic without the DOM, so it is tested on its own (ui-tests/tree.test.mjs).

/** The parent of "a/b/c" is "a/b"; of "a" it is "" (the top of the share). */
export function parentOf(path) {
  const i = path.lastIndexOf('/');
  return i < 0 ? (path === '' ? null : '') : path.slice(0, i);
}

/** "" and every folder above `path`, top first (not `path` itself). */
export function ancestors(path) {
  const out = [];
  for (let p = parentOf(path); p !== null; p = parentOf(p)) out.unshift(p);
  return out;
}

function isBelow(path, folder) {
  return folder === '' ? path !== '' : path.startsWith(folder + '/');
}

export class Selection {
  constructor() {
    /** path -> entry {path, name, is_dir, size, files, mime, content_id} */
    this.entries = new Map([['', { path: '', name: '', is_dir: true, size: 0, files: 0 }]]);
    /** folder path -> child paths, for loaded folders */
    this.children = new Map();
    /** Selected paths; none is below another; '' is everything. */
    this.selected = new Set();
  }

  /** Records the entries of one folder level (an `ls` answer). */
  load(folder, entries) {
    this.children.set(
      folder,
      entries.map((e) => e.path),
    );
    for (const e of entries) this.entries.set(e.path, e);
    if (folder === '') {
      const root = this.entries.get('');
      root.size = entries.reduce((a, e) => a + e.size, 0);
      root.files = entries.reduce((a, e) => a + (e.is_dir ? e.files : 1), 0);
    }
  }

  isLoaded(folder) {
    return this.children.has(folder);
  }

  /** Whether `path` is selected itself or through a folder above it. */
  isSelected(path) {
    if (this.selected.has(path)) return true;
    return ancestors(path).some((a) => this.selected.has(a));
  }

  /** 'checked', 'mixed' or 'unchecked'. */
  state(path) {
    if (this.isSelected(path)) return 'checked';
    for (const s of this.selected) if (isBelow(s, path)) return 'mixed';
    return 'unchecked';
  }

  toggle(path) {
    if (this.state(path) === 'checked') this.uncheck(path);
    else this.check(path);
  }

  selectAll() {
    this.selected = new Set(['']);
  }

  clear() {
    this.selected = new Set();
  }

  check(path) {
    for (const s of [...this.selected]) if (isBelow(s, path)) this.selected.delete(s);
    this.selected.add(path);
    // A folder whose children are all checked becomes one checked folder.
    for (let p = parentOf(path); p !== null; p = parentOf(p)) {
      const kids = this.children.get(p);
      if (!kids || !kids.length || !kids.every((k) => this.selected.has(k))) break;
      kids.forEach((k) => this.selected.delete(k));
      this.selected.add(p);
    }
  }

  uncheck(path) {
    if (this.selected.has(path)) {
      this.selected.delete(path);
      return;
    }
    // A folder above is checked: check its other children instead, down to `path`.
    const chain = [...ancestors(path), path];
    const top = chain.findIndex((a) => this.selected.has(a));
    if (top < 0) return;
    this.selected.delete(chain[top]);
    for (let i = top; i < chain.length - 1; i++) {
      const kids = this.children.get(chain[i]) || [];
      for (const k of kids) if (k !== chain[i + 1]) this.selected.add(k);
    }
  }

  /** Files and bytes selected. */
  totals() {
    let files = 0;
    let size = 0;
    for (const s of this.selected) {
      const e = this.entries.get(s);
      if (!e) continue;
      files += e.is_dir ? e.files : 1;
      size += e.size;
    }
    return { files, size };
  }

  /** The `paths` of a download request: [] for everything. */
  paths() {
    if (this.selected.has('')) return [];
    return [...this.selected].sort();
  }
}
