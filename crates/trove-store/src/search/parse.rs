//! Parsing query text into clauses, leniently: any string gives a (possibly empty) list.
//! Text outside quotes gives one clause per word; each quoted run gives one phrase clause
//! (a single quoted word is a plain word); an unclosed quote runs to the end. The last
//! clause is a prefix ("as you type") unless the text ends with whitespace or the clause is
//! a closed phrase. At most [`MAX_QUERY_WORDS`] words are kept; the rest are ignored.

use super::normalize;

/// Most words a query uses.
pub const MAX_QUERY_WORDS: usize = 32;

/// One ANDed part of a query: a word or a phrase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    /// Normalized words; one for a plain word, two or more for a phrase.
    pub words: Vec<String>,
    /// The last word may be the start of a longer word.
    pub prefix: bool,
}

/// A parsed query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub clauses: Vec<Clause>,
}

impl Parsed {
    /// Every word in order.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.clauses.iter().flat_map(|c| c.words.iter().map(String::as_str))
    }

    /// The word that is a prefix, if any.
    pub fn prefix_word(&self) -> Option<&str> {
        self.clauses.last().filter(|c| c.prefix).and_then(|c| c.words.last()).map(String::as_str)
    }
}

/// Parses query text.
pub fn parse(text: &str) -> Parsed {
    let mut clauses: Vec<Clause> = Vec::new();
    let mut room = MAX_QUERY_WORDS;
    let mut truncated = false;
    let mut last_is_open = false;
    let segments: Vec<&str> = text.split('"').collect();
    let unclosed = segments.len().is_multiple_of(2);
    for (i, seg) in segments.iter().enumerate() {
        let quoted = i % 2 == 1;
        let mut words: Vec<String> = normalize::words(seg, false).into_iter().map(|w| w.text).collect();
        if words.len() > room {
            words.truncate(room);
            truncated = true;
        }
        room -= words.len();
        if !words.is_empty() {
            last_is_open = !quoted || (unclosed && i == segments.len() - 1);
            if quoted && words.len() > 1 {
                clauses.push(Clause { words, prefix: false });
            } else {
                clauses.extend(words.into_iter().map(|w| Clause { words: vec![w], prefix: false }));
            }
        }
        if truncated {
            break;
        }
    }
    if let Some(last) = clauses.last_mut() {
        last.prefix = !truncated && last_is_open && ends_in_word(text);
    }
    Parsed { clauses }
}

/// Whether the text ends inside a word (its last character is a letter or digit), so the
/// last word may still be growing.
fn ends_in_word(text: &str) -> bool {
    text.chars().last().is_some_and(|c| {
        let mut s = String::new();
        s.push(c);
        !normalize::words(&s, false).is_empty()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(text: &str) -> Vec<(Vec<&'static str>, bool)> {
        parse(text)
            .clauses
            .into_iter()
            .map(|c| (c.words.into_iter().map(|w| &*Box::leak(w.into_boxed_str())).collect(), c.prefix))
            .collect()
    }

    #[test]
    fn words_and_prefix() {
        assert_eq!(show("Ubuntu ISO"), [(vec!["ubuntu"], false), (vec!["iso"], true)]);
        assert_eq!(show("ubuntu iso "), [(vec!["ubuntu"], false), (vec!["iso"], false)]);
        assert_eq!(show("ubuntu."), [(vec!["ubuntu"], false)]);
        assert!(show("").is_empty());
        assert!(show(" ,.;-_ ").is_empty());
    }

    #[test]
    fn phrases() {
        assert_eq!(show(r#""big lebowski" dvd"#), [(vec!["big", "lebowski"], false), (vec!["dvd"], true)]);
        assert_eq!(show(r#"dvd "big lebowski""#), [(vec!["dvd"], false), (vec!["big", "lebowski"], false)]);
        assert_eq!(show(r#"dvd "big leb"#), [(vec!["dvd"], false), (vec!["big", "leb"], true)]);
        assert_eq!(show(r#""single""#), [(vec!["single"], false)]);
        assert_eq!(show(r#"a "" b"#), [(vec!["a"], false), (vec!["b"], true)]);
        assert_eq!(show(r#"""""#), Vec::<(Vec<&str>, bool)>::new());
    }

    #[test]
    fn long_queries_are_cut() {
        let text = "word ".repeat(10_000);
        let p = parse(&text);
        assert_eq!(p.words().count(), MAX_QUERY_WORDS);
        assert_eq!(p.prefix_word(), None);
        let p = parse(&"x".repeat(10_000));
        assert_eq!(p.clauses.len(), 1);
        assert_eq!(p.prefix_word().map(str::len), Some(normalize::MAX_WORD_BYTES));
    }
}
