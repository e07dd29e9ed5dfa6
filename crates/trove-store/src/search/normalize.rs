//! Text normalization shared by indexing and querying, so both sides always agree: Unicode
//! NFKD with combining marks stripped, lowercase, and words split on every character that is
//! not a letter or a digit (spaces, punctuation, `_`, `-`, `.`, `/`). A camelCase word also
//! yields its parts ("PowerPoint" → "powerpoint", "power", "point"). Words keep the byte
//! range they came from, for highlighting.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Longest word kept, in bytes of normalized text. Longer words are cut at a character
/// boundary, identically when indexing and when querying.
pub const MAX_WORD_BYTES: usize = 64;

/// One word of a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The normalized form (lowercase, no marks, letters and digits only).
    pub text: String,
    /// Byte range in the source text.
    pub start: usize,
    pub end: usize,
    /// Index of the whole word in the text; a camelCase part has its whole word's position.
    pub position: usize,
    /// A camelCase part of a whole word, not a whole word itself.
    pub part: bool,
}

/// A whole word being assembled: its text, source range and camelCase split points
/// (byte index in `text`, byte offset in the source).
struct Pending {
    text: String,
    start: usize,
    end: usize,
    splits: Vec<(usize, usize)>,
    full: bool,
}

/// Appends the normalized form of `c` to `out`: NFKD, lowercase, combining marks removed.
fn normalize_char(c: char, out: &mut Vec<char>) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    for d in std::iter::once(c).nfkd() {
        for l in d.to_lowercase() {
            if !is_combining_mark(l) {
                out.push(l);
            }
        }
    }
}

/// Whether a camelCase part starts at `c`, given the character before it and the one after.
fn camel_boundary(prev: Option<char>, c: char, next: Option<char>) -> bool {
    let Some(p) = prev else { return false };
    (p.is_lowercase() && c.is_uppercase())
        || (p.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase))
}

/// Splits `src` into normalized words. With `parts`, camelCase parts follow their whole word.
pub fn words(src: &str, parts: bool) -> Vec<Word> {
    let mut out = Vec::new();
    let mut cur: Option<Pending> = None;
    let mut norm = Vec::with_capacity(4);
    let mut prev_src: Option<char> = None;
    let mut iter = src.char_indices().peekable();
    while let Some((at, c)) = iter.next() {
        let next = iter.peek().map(|&(_, n)| n);
        let end = at + c.len_utf8();
        norm.clear();
        normalize_char(c, &mut norm);
        let mut first_of_char = true;
        for &n in &norm {
            if !n.is_alphanumeric() {
                flush(&mut cur, &mut out, parts);
                first_of_char = true;
                continue;
            }
            let w = cur.get_or_insert_with(|| Pending {
                text: String::new(),
                start: at,
                end,
                splits: Vec::new(),
                full: false,
            });
            if w.full {
                continue;
            }
            if w.text.len() + n.len_utf8() > MAX_WORD_BYTES {
                w.full = true;
                continue;
            }
            if first_of_char && !w.text.is_empty() && camel_boundary(prev_src, c, next) {
                w.splits.push((w.text.len(), at));
            }
            first_of_char = false;
            w.text.push(n);
            w.end = end;
        }
        prev_src = Some(c);
    }
    flush(&mut cur, &mut out, parts);
    out
}

/// Ends the word being assembled: emits it, then its camelCase parts when asked for.
fn flush(cur: &mut Option<Pending>, out: &mut Vec<Word>, parts: bool) {
    let Some(w) = cur.take() else { return };
    let position = out.last().map_or(0, |l: &Word| l.position + 1);
    out.push(Word { text: w.text.clone(), start: w.start, end: w.end, position, part: false });
    if !parts || w.splits.is_empty() {
        return;
    }
    let mut bounds = vec![(0, w.start)];
    bounds.extend(w.splits.iter().copied());
    let first_part = out.len();
    for (i, &(from, src_from)) in bounds.iter().enumerate() {
        let (to, src_to) = bounds.get(i + 1).copied().unwrap_or((w.text.len(), w.end));
        let Some(text) = w.text.get(from..to) else { continue };
        if text.is_empty() || out[first_part..].iter().any(|p| p.text == text) {
            continue;
        }
        out.push(Word { text: text.to_string(), start: src_from, end: src_to, position, part: true });
    }
}

/// The normalized whole words of `src` joined by single spaces, cut to `max` bytes at a
/// character boundary.
pub fn joined(src: &str, max: usize) -> String {
    let mut key = String::new();
    for w in words(src, false) {
        if !key.is_empty() {
            key.push(' ');
        }
        key.push_str(&w.text);
    }
    truncate(&mut key, max);
    key
}

/// Cuts `s` to at most `max` bytes at a character boundary.
pub fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// The end (byte offset in `src`) of the shortest source span starting at `start` whose
/// normalized letters and digits are at least `len` bytes long, capped at `end`. Used to
/// highlight just the typed prefix of a word.
pub fn prefix_source_end(src: &str, start: usize, end: usize, len: usize) -> usize {
    let Some(span) = src.get(start..end) else { return end };
    let mut have = 0;
    let mut norm = Vec::with_capacity(4);
    for (at, c) in span.char_indices() {
        norm.clear();
        normalize_char(c, &mut norm);
        have += norm.iter().filter(|n| n.is_alphanumeric()).map(|n| n.len_utf8()).sum::<usize>();
        if have >= len {
            return start + at + c.len_utf8();
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str, parts: bool) -> Vec<String> {
        words(src, parts).into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn case_and_diacritics_fold() {
        assert_eq!(texts("Résumé CAFÉ naïve Ångström", false), ["resume", "cafe", "naive", "angstrom"]);
        assert_eq!(texts("İstanbul ﬁle", false), ["istanbul", "file"]);
    }

    #[test]
    fn punctuation_underscore_dash_dot_split() {
        assert_eq!(texts("ubuntu-22.04_server.iso", false), ["ubuntu", "22", "04", "server", "iso"]);
        assert_eq!(texts("a/b\\c (d) [e] 'f'", false), ["a", "b", "c", "d", "e", "f"]);
        assert!(texts("...---!!!", false).is_empty());
    }

    #[test]
    fn camel_case_parts_follow_whole_word() {
        let w = words("MyPowerPoint HTMLParser x264", true);
        let got: Vec<(&str, usize, bool)> = w.iter().map(|w| (w.text.as_str(), w.position, w.part)).collect();
        assert_eq!(
            got,
            [
                ("mypowerpoint", 0, false),
                ("my", 0, true),
                ("power", 0, true),
                ("point", 0, true),
                ("htmlparser", 1, false),
                ("html", 1, true),
                ("parser", 1, true),
                ("x264", 2, false),
            ]
        );
        let src = "MyPowerPoint";
        let point = w.iter().find(|w| w.text == "point").unwrap();
        assert_eq!(&src[point.start..point.end], "Point");
    }

    #[test]
    fn offsets_point_into_source() {
        let src = "Le Café, très bien";
        for w in words(src, false) {
            let back = joined(&src[w.start..w.end], 100);
            assert_eq!(back, w.text);
        }
    }

    #[test]
    fn long_words_are_cut_at_char_boundary() {
        let long = "é".repeat(100);
        let w = words(&long, false);
        assert_eq!(w.len(), 1);
        assert!(w[0].text.len() <= MAX_WORD_BYTES);
        assert_eq!(w[0].text, "e".repeat(MAX_WORD_BYTES));
        let mut s = "ab€".to_string();
        truncate(&mut s, 3);
        assert_eq!(s, "ab");
    }

    #[test]
    fn prefix_end_maps_back_to_source() {
        let src = "Résumé final";
        assert_eq!(&src[..prefix_source_end(src, 0, 8, 3)], "Rés");
        assert_eq!(prefix_source_end(src, 0, 8, 100), 8);
    }
}
