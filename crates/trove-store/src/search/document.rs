//! Turning a manifest item into an index document (the name, tags and folders go both to
//! their own fields and to `any`), with the keys ranking uses: hashes of the name with and
//! without its extension, normalized, for exact matches; the packed sort key (the first 12
//! letters of the normalized name, so ties sort alphabetically); and a document key unique per
//! share and item for a total, stable order.

use super::mime;
use super::normalize;
use super::schema::Fields;
use tantivy::TantivyDocument;
use trove_proto::ShareId;
use trove_proto::wire::Item;

/// Longest exact-match key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Longest extension recognized when stripping it from a name.
const MAX_EXTENSION_CHARS: usize = 8;

/// The name without its extension, if it has one: the text after the last `.`, 1 to 8 ASCII
/// letters and digits with at least one letter ("22.04" keeps its "04"), after a non-empty stem.
pub fn stem(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    let is_ext = !ext.is_empty()
        && ext.len() <= MAX_EXTENSION_CHARS
        && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        && ext.bytes().any(|b| b.is_ascii_alphabetic());
    (is_ext && !stem.trim().is_empty()).then_some(stem)
}

/// The exact-match keys of a name: its words without the extension (the whole name when it
/// has none), and with it.
pub fn name_keys(name: &str) -> [String; 2] {
    let full = normalize::joined(name, MAX_KEY_BYTES);
    let stem_key = stem(name).map(|s| normalize::joined(s, MAX_KEY_BYTES)).filter(|k| !k.is_empty());
    [stem_key.unwrap_or_else(|| full.clone()), full]
}

/// The stored form of an exact-match key: 64 bits of its BLAKE3 hash (a collision would only
/// give one name an undeserved bonus).
pub fn key_hash(key: &str) -> u64 {
    let h = blake3::hash(key.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_be_bytes(b)
}

/// Packs the first 12 characters of the normalized name into a number that sorts like the
/// text: space < digits < a–z < anything else; shorter sorts first.
pub fn sort_key(name: &str) -> u64 {
    let key = normalize::joined(name, 64);
    let mut v: u64 = 0;
    let mut chars = key.chars();
    for _ in 0..12 {
        let sym = match chars.next() {
            None => 0,
            Some(' ') => 1,
            Some(c @ '0'..='9') => 2 + (c as u64 - '0' as u64),
            Some(c @ 'a'..='z') => 12 + (c as u64 - 'a' as u64),
            Some(_) => 38,
        };
        v = v * 40 + sym;
    }
    v
}

/// The part of a path searched as folders: the path without its last component when that
/// is the item's name (the name is searched on its own).
pub fn folders<'a>(path: &'a str, name: &str) -> &'a str {
    match path.rsplit_once('/') {
        Some((dirs, last)) if last == name => dirs,
        None if path == name => "",
        _ => path,
    }
}

/// A key unique per (share, item position), stable across re-indexing the same manifest.
pub fn doc_key(share: &ShareId, index: usize, item: &Item) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(&share.0);
    h.update(&(index as u64).to_le_bytes());
    h.update(&item.content_id.0);
    let out = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&out.as_bytes()[..8]);
    u64::from_be_bytes(b)
}

/// The first 8 bytes of a content id, as the blocklist filter reads it.
pub fn content64(id: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id[..8]);
    u64::from_be_bytes(b)
}

/// The document of item `index` of a share.
pub fn item_doc(f: &Fields, share_no: u64, share: &ShareId, index: usize, item: &Item) -> TantivyDocument {
    let mut d = TantivyDocument::new();
    d.add_text(f.name, &item.name);
    d.add_text(f.name_prefixes, &item.name);
    d.add_text(f.any, &item.name);
    d.add_text(f.any_prefixes, &item.name);
    for t in &item.tags {
        d.add_text(f.tags, t);
        d.add_text(f.tag_prefixes, t);
        d.add_text(f.any, t);
        d.add_text(f.any_prefixes, t);
    }
    if let Some(p) = &item.path {
        d.add_text(f.path, p);
        let dirs = folders(p, &item.name);
        d.add_text(f.folders, dirs);
        d.add_text(f.any, dirs);
        d.add_text(f.any_prefixes, dirs);
    }
    if let Some(m) = &item.mime {
        d.add_text(f.mime, m);
    }
    if let Some(c) = mime::class_of(item.mime.as_deref(), &item.name) {
        d.add_text(f.mime_class, c);
    }
    d.add_bytes(f.content_id, &item.content_id.0);
    d.add_u64(f.size, item.size);
    d.add_u64(f.share_no, share_no);
    d.add_u64(f.name_sort, sort_key(&item.name));
    d.add_u64(f.content64, content64(&item.content_id.0));
    d.add_u64(f.doc_key, doc_key(share, index, item));
    let [stem_key, full_key] = name_keys(&item.name);
    d.add_u64(f.stem_hash, key_hash(&stem_key));
    d.add_u64(f.name_hash, key_hash(&full_key));
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_drop_real_extensions_only() {
        assert_eq!(stem("Ubuntu Server.iso"), Some("Ubuntu Server"));
        assert_eq!(stem("archive.tar.gz"), Some("archive.tar"));
        assert_eq!(stem("Ubuntu 22.04"), None);
        assert_eq!(stem(".bashrc"), None);
        assert_eq!(stem("noext"), None);
        assert_eq!(stem("x.verylongext"), None);
    }

    #[test]
    fn folders_leave_out_the_name() {
        assert_eq!(folders("a/b/x.txt", "x.txt"), "a/b");
        assert_eq!(folders("x.txt", "x.txt"), "");
        assert_eq!(folders("a/b/other.txt", "x.txt"), "a/b/other.txt");
    }

    #[test]
    fn name_keys_with_and_without_extension() {
        assert_eq!(name_keys("Résumé.PDF"), ["resume", "resume pdf"]);
        assert_eq!(name_keys("Ubuntu 22.04"), ["ubuntu 22 04", "ubuntu 22 04"]);
        assert_eq!(name_keys("...pdf"), ["pdf", "pdf"]);
        assert_eq!(name_keys("..."), ["", ""]);
    }

    #[test]
    fn sort_keys_sort_like_names() {
        let mut names = ["beta", "Alpha", "alpha 2", "alpha", "Ärger", "0day", "zulu", "alphabet"];
        names.sort_by_key(|n| sort_key(n));
        assert_eq!(names, ["0day", "Alpha", "alpha", "alpha 2", "alphabet", "Ärger", "beta", "zulu"]);
        assert_eq!(sort_key("Alpha"), sort_key("alpha"));
    }
}
