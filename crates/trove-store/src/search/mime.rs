//! Mime classes for the type filter: the top-level type of an item's mime ("video/mp4" →
//! "video"), or, when a manifest gives no usable mime, a guess from common file extensions.

/// Longest class kept; anything longer is not a mime type.
const MAX_CLASS_BYTES: usize = 32;

/// Extensions of common files without a mime in their manifest.
const BY_EXTENSION: &[(&str, &[&str])] = &[
    ("video", &["mp4", "m4v", "mkv", "webm", "avi", "mov", "wmv", "flv", "mpg", "mpeg", "ts", "3gp", "ogv"]),
    ("audio", &["mp3", "flac", "ogg", "oga", "opus", "wav", "m4a", "aac", "wma", "aiff", "mka"]),
    ("image", &["jpg", "jpeg", "png", "gif", "webp", "bmp", "svg", "tif", "tiff", "heic", "avif", "ico", "raw"]),
    ("text", &["txt", "md", "csv", "tsv", "log", "srt", "vtt", "nfo", "htm", "html", "css", "ini", "toml", "yaml"]),
    (
        "application",
        &[
            "pdf", "zip", "gz", "tgz", "xz", "bz2", "zst", "tar", "7z", "rar", "iso", "img", "exe", "msi", "deb",
            "rpm", "dmg", "apk", "epub", "json", "xml", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "torrent",
        ],
    ),
    ("font", &["ttf", "otf", "woff", "woff2"]),
];

/// The class to filter on: the part of `mime` before `/`, lowercased, if it looks like a mime
/// type; else a guess from the extension of `name`.
pub fn class_of(mime: Option<&str>, name: &str) -> Option<String> {
    if let Some(class) = mime.and_then(|m| m.split_once('/')).and_then(|(c, _)| clean(c)) {
        return Some(class);
    }
    let (_, ext) = name.rsplit_once('.')?;
    let ext = ext.to_ascii_lowercase();
    BY_EXTENSION.iter().find(|(_, exts)| exts.contains(&ext.as_str())).map(|(class, _)| class.to_string())
}

/// Normalizes a class given in a query: "Video", "video/*" and "video/mp4" all mean "video".
/// Blank means no filter.
pub fn query_class(given: &str) -> Option<String> {
    let head = given.split('/').next().unwrap_or("");
    let mut t = head.trim().to_ascii_lowercase();
    super::normalize::truncate(&mut t, MAX_CLASS_BYTES);
    if t.is_empty() { None } else { Some(t) }
}

fn clean(class: &str) -> Option<String> {
    let c = class.trim().to_ascii_lowercase();
    let ok = !c.is_empty()
        && c.len() <= MAX_CLASS_BYTES
        && c.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'));
    ok.then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_from_mime_then_extension() {
        assert_eq!(class_of(Some("Video/MP4"), "x.bin").as_deref(), Some("video"));
        assert_eq!(class_of(None, "Song.FLAC").as_deref(), Some("audio"));
        assert_eq!(class_of(Some("garbage"), "a.pdf").as_deref(), Some("application"));
        assert_eq!(class_of(Some("a b/c"), "noext"), None);
        assert_eq!(class_of(None, "archive.unknown"), None);
    }

    #[test]
    fn query_classes_are_lenient() {
        assert_eq!(query_class(" Video/* ").as_deref(), Some("video"));
        assert_eq!(query_class("audio/mpeg").as_deref(), Some("audio"));
        assert_eq!(query_class("  "), None);
    }
}
