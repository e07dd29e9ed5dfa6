//! The tantivy tokenizers built on [`super::normalize`]: `trove_words` for paths and tags, and
//! `trove_name` for file names, which also emits an anchor token `^<first word>` at the first
//! word's position so "the name starts with the query" is an ordinary (and cheap) term or
//! phrase lookup. Normalized words never contain `^`, so anchors cannot collide with words.

use super::normalize::{self, Word};
use tantivy::Index;
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};

/// Tokenizer name for paths and tags.
pub const WORDS: &str = "trove_words";
/// Tokenizer name for file names.
pub const NAME: &str = "trove_name";
/// Marks the anchor token of a name's first word.
pub const ANCHOR: char = '^';

/// The anchor term for a name whose first word is `word`.
pub fn anchor(word: &str) -> String {
    let mut s = String::with_capacity(word.len() + 1);
    s.push(ANCHOR);
    s.push_str(word);
    s
}

/// Splits text into normalized words (and camelCase parts), optionally with the anchor.
#[derive(Clone, Copy, Debug)]
pub struct WordTokenizer {
    anchored: bool,
}

/// The tokens of one text, produced up front.
pub struct WordStream {
    tokens: Vec<Token>,
    next: usize,
    empty: Token,
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream {
        let words = normalize::words(text, true);
        let mut tokens = Vec::with_capacity(words.len() + 1);
        if self.anchored
            && let Some(first) = words.first()
        {
            tokens.push(token(&Word { text: anchor(&first.text), ..first.clone() }));
        }
        tokens.extend(words.iter().map(token));
        WordStream { tokens, next: 0, empty: Token::default() }
    }
}

fn token(w: &Word) -> Token {
    Token { offset_from: w.start, offset_to: w.end, position: w.position, text: w.text.clone(), position_length: 1 }
}

impl TokenStream for WordStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        self.next.checked_sub(1).and_then(|i| self.tokens.get(i)).unwrap_or(&self.empty)
    }

    fn token_mut(&mut self) -> &mut Token {
        match self.next.checked_sub(1) {
            Some(i) if i < self.tokens.len() => &mut self.tokens[i],
            _ => &mut self.empty,
        }
    }
}

/// Registers both tokenizers on an index (tantivy does not persist tokenizers).
pub fn register(index: &Index) {
    index.tokenizers().register(WORDS, TextAnalyzer::from(WordTokenizer { anchored: false }));
    index.tokenizers().register(NAME, TextAnalyzer::from(WordTokenizer { anchored: true }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(anchored: bool, text: &str) -> Vec<(String, usize)> {
        let mut t = WordTokenizer { anchored };
        let mut s = t.token_stream(text);
        let mut out = Vec::new();
        while s.advance() {
            out.push((s.token().text.clone(), s.token().position));
        }
        out
    }

    #[test]
    fn name_tokens_carry_an_anchor() {
        let got = run(true, "Ubuntu Server.iso");
        let want = [("^ubuntu", 0), ("ubuntu", 0), ("server", 1), ("iso", 2)];
        assert_eq!(got, want.map(|(t, p)| (t.to_string(), p)));
        assert_eq!(run(false, "Ubuntu Server.iso").len(), 3);
        assert!(run(true, "--- ...").is_empty());
    }

    #[test]
    fn token_before_advance_does_not_panic() {
        let mut t = WordTokenizer { anchored: false };
        let mut s = t.token_stream("");
        assert_eq!(s.token().text, "");
        s.token_mut().text.push('x');
        assert!(!s.advance());
    }
}
