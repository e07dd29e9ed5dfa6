//! The tantivy tokenizers built on [`super::normalize`]. Word fields (with positions, for
//! phrases) get the words and camelCase parts; prefix fields (documents only, small) get a
//! token `p*` for every prefix of up to [`MAX_PREFIX_CHARS`] characters of each word, the
//! whole word included, so a typed prefix is one term lookup. Names also get anchors for
//! their first word: `^w` in the word field and `^p*` in the prefix field, so "the name
//! starts with the query" is a term or phrase lookup too.
//!
//! Normalized words contain only letters and digits, so `^` and `*` cannot collide with them.

use super::normalize::{self, Word};
use tantivy::Index;
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};

/// Tokenizer names: words of folders and tags, their prefixes, words of names (with the
/// anchor), their prefixes (with anchored prefixes).
pub const WORDS: &str = "trove_words";
pub const PREFIXES: &str = "trove_prefixes";
pub const NAME: &str = "trove_name";
pub const NAME_PREFIXES: &str = "trove_name_prefixes";
/// Longest prefix (in characters) indexed as a prefix token; longer typed prefixes fall back
/// to scanning the term dictionary.
pub const MAX_PREFIX_CHARS: usize = 12;

/// The anchor term of a name's first word (or of a prefix token of it).
pub fn anchor(token: &str) -> String {
    format!("^{token}")
}

/// The prefix token of a typed prefix, if prefixes that long are indexed.
pub fn prefix_token(prefix: &str) -> Option<String> {
    (!prefix.is_empty() && prefix.chars().count() <= MAX_PREFIX_CHARS).then(|| format!("{prefix}*"))
}

/// Splits text into words and camelCase parts (or their prefix tokens), with name anchors
/// when `anchored`.
#[derive(Clone, Copy, Debug)]
pub struct WordTokenizer {
    anchored: bool,
    prefixes: bool,
}

/// What one token is made of: part of a word, decorated.
#[derive(Clone, Copy, Debug)]
struct Piece {
    word: usize,
    len: usize,
    anchor: bool,
    star: bool,
}

/// The tokens of one text: the words and a plan of the tokens made from them, filled into one
/// reused [`Token`] as the stream advances.
pub struct WordStream {
    words: Vec<Word>,
    pieces: Vec<Piece>,
    next: usize,
    token: Token,
}

/// The lengths (bytes) of the prefixes of a word that get prefix tokens: 1 to
/// [`MAX_PREFIX_CHARS`] characters, the whole word included.
fn prefix_lens(word: &str) -> impl Iterator<Item = usize> + '_ {
    word.char_indices().skip(1).map(|(i, _)| i).chain(std::iter::once(word.len())).take(MAX_PREFIX_CHARS)
}

/// Plans the tokens of `words` (words, or prefixes), in position order.
fn plan(words: &[Word], anchored: bool, prefixes: bool) -> Vec<Piece> {
    let mut out = Vec::with_capacity(words.len() * 8);
    // Prefixes already planned at the current position (a word and its parts share some).
    let mut group: Vec<&str> = Vec::new();
    let mut group_pos = None;
    for (i, w) in words.iter().enumerate() {
        if group_pos != Some(w.position) {
            group.clear();
            group_pos = Some(w.position);
        }
        let first = anchored && w.position == 0 && !w.part;
        if !prefixes {
            if first {
                out.push(Piece { word: i, len: w.text.len(), anchor: true, star: false });
            }
            out.push(Piece { word: i, len: w.text.len(), anchor: false, star: false });
            continue;
        }
        if first {
            out.extend(prefix_lens(&w.text).map(|len| Piece { word: i, len, anchor: true, star: true }));
        }
        for len in prefix_lens(&w.text) {
            let p = &w.text[..len];
            if !group.contains(&p) {
                group.push(p);
                out.push(Piece { word: i, len, anchor: false, star: true });
            }
        }
    }
    out
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream {
        let words = normalize::words(text, true);
        let pieces = plan(&words, self.anchored, self.prefixes);
        WordStream { words, pieces, next: 0, token: Token::default() }
    }
}

impl TokenStream for WordStream {
    fn advance(&mut self) -> bool {
        let Some(p) = self.pieces.get(self.next).copied() else { return false };
        self.next += 1;
        let Some(w) = self.words.get(p.word) else { return false };
        let t = &mut self.token;
        t.text.clear();
        if p.anchor {
            t.text.push('^');
        }
        t.text.push_str(w.text.get(..p.len).unwrap_or(&w.text));
        if p.star {
            t.text.push('*');
        }
        t.offset_from = w.start;
        t.offset_to = w.end;
        t.position = w.position;
        t.position_length = 1;
        true
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// Registers the tokenizers on an index (tantivy does not persist tokenizers).
pub fn register(index: &Index) {
    for (name, anchored, prefixes) in
        [(WORDS, false, false), (PREFIXES, false, true), (NAME, true, false), (NAME_PREFIXES, true, true)]
    {
        index.tokenizers().register(name, TextAnalyzer::from(WordTokenizer { anchored, prefixes }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(anchored: bool, prefixes: bool, text: &str) -> Vec<(String, usize)> {
        let mut t = WordTokenizer { anchored, prefixes };
        let mut s = t.token_stream(text);
        let mut out = Vec::new();
        while s.advance() {
            out.push((s.token().text.clone(), s.token().position));
        }
        out
    }

    fn pairs(want: &[(&str, usize)]) -> Vec<(String, usize)> {
        want.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    #[test]
    fn name_tokens_carry_anchors() {
        assert_eq!(run(true, false, "Ubu Os.iso"), pairs(&[("^ubu", 0), ("ubu", 0), ("os", 1), ("iso", 2)]));
        let want = [("^u*", 0), ("^ub*", 0), ("^ubu*", 0), ("u*", 0), ("ub*", 0), ("ubu*", 0), ("o*", 1), ("os*", 1)];
        assert_eq!(run(true, true, "Ubu Os"), pairs(&want));
        assert_eq!(run(false, false, "Ubu Os.iso"), pairs(&[("ubu", 0), ("os", 1), ("iso", 2)]));
        assert_eq!(run(false, true, "Ubu Os").len(), 5);
        assert!(run(true, true, "--- ...").is_empty());
    }

    #[test]
    fn camel_parts_share_prefix_tokens_once() {
        let got = run(false, true, "PowerPoint");
        assert_eq!(got.iter().filter(|(t, _)| t == "p*").count(), 1);
        assert!(got.iter().any(|(t, _)| t == "poi*") && got.iter().any(|(t, _)| t == "powerpoint*"));
        let words = run(false, false, "PowerPoint");
        assert_eq!(words, pairs(&[("powerpoint", 0), ("power", 0), ("point", 0)]));
    }

    #[test]
    fn long_words_get_prefixes_up_to_the_cap() {
        let got = run(false, true, "abcdefghijklmnopqrstuvwxyz");
        let longest = got.iter().map(|(t, _)| t.chars().count() - 1).max();
        assert_eq!(longest, Some(MAX_PREFIX_CHARS));
        assert_eq!(prefix_token("ab").as_deref(), Some("ab*"));
        assert_eq!(prefix_token(&"é".repeat(MAX_PREFIX_CHARS)).map(|t| t.chars().count()), Some(MAX_PREFIX_CHARS + 1));
        assert_eq!(prefix_token(&"a".repeat(MAX_PREFIX_CHARS + 1)), None);
        assert_eq!(prefix_token(""), None);
    }

    #[test]
    fn token_before_advance_does_not_panic() {
        let mut t = WordTokenizer { anchored: false, prefixes: false };
        let mut s = t.token_stream("");
        assert_eq!(s.token().text, "");
        s.token_mut().text.push('x');
        assert!(!s.advance());
    }
}
