//! Which parts of a hit's name matched: byte ranges into the name, sorted and merged, on
//! character boundaries. A word equal to a query word is marked whole; a word that only
//! starts with the typed prefix has just that prefix marked ("[Ubu]ntu" for "ubu").

use super::normalize;
use super::parse::Parsed;
use std::ops::Range;

/// The matched byte ranges of `name`.
pub fn ranges(name: &str, p: &Parsed) -> Vec<Range<usize>> {
    let words: Vec<&str> = p.words().collect();
    let prefix = p.prefix_word();
    let mut out: Vec<Range<usize>> = Vec::new();
    for w in normalize::words(name, true) {
        if words.contains(&w.text.as_str()) {
            out.push(w.start..w.end);
        } else if let Some(pre) = prefix.filter(|pre| w.text.starts_with(pre)) {
            out.push(w.start..normalize::prefix_source_end(name, w.start, w.end, pre.len()));
        }
    }
    out.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(out.len());
    for r in out {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// `name` with each range wrapped in `open` … `close`.
pub fn mark(name: &str, ranges: &[Range<usize>], open: &str, close: &str) -> String {
    let mut s = String::with_capacity(name.len() + ranges.len() * (open.len() + close.len()));
    let mut at = 0;
    for r in ranges {
        let (Some(before), Some(inside)) = (name.get(at..r.start), name.get(r.start..r.end)) else { continue };
        s.push_str(before);
        s.push_str(open);
        s.push_str(inside);
        s.push_str(close);
        at = r.end;
    }
    s.push_str(name.get(at..).unwrap_or(""));
    s
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    fn show(name: &str, q: &str) -> String {
        mark(name, &ranges(name, &parse(q)), "[", "]")
    }

    #[test]
    fn marks_words_and_prefixes() {
        assert_eq!(show("Ubuntu Server.iso", "ubuntu iso"), "[Ubuntu] Server.[iso]");
        assert_eq!(show("Ubuntu Server.iso", "ubu"), "[Ubu]ntu Server.iso");
        assert_eq!(show("Résumé 2024.pdf", "resume"), "[Résumé] 2024.pdf");
        assert_eq!(show("Résumé 2024.pdf", "res"), "[Rés]umé 2024.pdf");
        assert_eq!(show("MyPowerPoint.pptx", "power"), "My[Power]Point.pptx");
        assert_eq!(show("MyPowerPoint.pptx", "power point "), "My[PowerPoint].pptx");
        assert_eq!(show("nothing here", "zzz"), "nothing here");
    }

    #[test]
    fn bad_ranges_are_skipped() {
        assert_eq!(mark("héllo", &[1..2, 0..1], "[", "]"), "[h]éllo");
        assert_eq!(mark("abc", &[1..2, 0..1], "[", "]"), "a[b]c");
    }
}
