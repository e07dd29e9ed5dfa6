//! Turning a parsed query into a tantivy query whose score is the ranking tier.
//!
//! Every clause must match somewhere (see [`clause`]): in the name, tags or folders, or in the
//! share's title or description, which scores [`OTHER`]; a match in the name raises that to
//! [`NAME`] (a typed prefix that is not a whole word: a bit less), in a tag to [`TAG`] (both:
//! 120). Two bonuses rank whole-name matches first: the name starts with the query
//! ([`STARTS`]) and the name (with or without extension) equals the query ([`EXACT`], checked
//! by the collector). Bonuses are per clause, so dividing the sum by the clause count gives
//! tiers that do not depend on the query length: exact 11,100 > starts-with 1,100 > name
//! words 100 > tags 30 > folders, title, description 10. Filters (share list, mime class)
//! score nothing.
//!
//! Typed prefixes are single terms of the prefix fields (see [`super::tokenizer`]); only
//! prefixes longer than [`super::tokenizer::MAX_PREFIX_CHARS`] and prefixes inside quotes
//! scan the term dictionary.

use super::collect::Exact;
use super::document::{MAX_KEY_BYTES, key_hash};
use super::normalize;
use super::parse::{Clause, Parsed};
use super::schema::Fields;
use super::shares::ShareTable;
use super::tokenizer::{anchor, prefix_token};
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, DisjunctionMaxQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query,
    QueryClone, TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};

/// A whole word or phrase in the name.
pub const NAME: f32 = 100.0;
/// In a tag.
pub const TAG: f32 = 30.0;
/// In the folders, or in the share's title or description.
pub const OTHER: f32 = 10.0;
/// A match of the typed prefix only scores this share of a whole-word match.
const PREFIX_SHARE: f32 = 0.8;
/// The name starts with the query.
pub const STARTS: f32 = 1000.0;
/// The name, with or without its extension, is the query.
pub const EXACT: f32 = 10_000.0;
/// The highest tier (averaged per clause) a match reaches without the starts-with bonus:
/// in the name and a tag.
pub const MAX_PLAIN: f32 = NAME + TAG - OTHER;
/// Most words a long typed prefix (beyond the prefix tokens) expands to inside a phrase.
const MAX_EXPANSIONS: u32 = 1000;
/// Share lists up to this size are matched as a union of posting lists, larger ones
/// through a term set.
const SMALL_SHARE_SET: usize = 16;

/// A tantivy query, the number its scores are divided by, and the exact-name check the
/// collector applies.
pub struct Plan {
    pub query: Box<dyn Query>,
    /// The same query restricted to names starting with the query (when it has words). Its
    /// best matches are the best of all when they score above [`MAX_PLAIN`] times the largest
    /// share weight, which saves ranking every match of a short prefix.
    pub starts_only: Option<Box<dyn Query>>,
    /// Upper bounds of the number of matches: the documents of a clause's term plus the items
    /// of the shares whose title or description has it (any one bounds the whole query).
    pub bounds: Vec<(Term, usize)>,
    pub divisor: f32,
    pub exact: Option<Exact>,
}

fn konst(q: Box<dyn Query>, score: f32) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(q, score))
}

fn term_query(t: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(t, IndexRecordOption::Basic))
}

/// A text field and its prefix field, if it has one.
#[derive(Clone, Copy)]
struct Pair {
    words: Field,
    prefixes: Option<Field>,
}

/// The words in a row (one word: a term). With `prefix`, the last word may be the start of a
/// longer word: one prefix token for a single word; inside a phrase (an unclosed quote) the
/// prefix is expanded against the word field.
fn words_query(pair: Pair, words: &[String], prefix: bool) -> Option<Box<dyn Query>> {
    let (last, head) = words.split_last()?;
    let mut terms: Vec<Term> = head.iter().map(|w| Term::from_field_text(pair.words, w)).collect();
    terms.push(Term::from_field_text(pair.words, last));
    if !prefix {
        return Some(if terms.len() == 1 { term_query(terms.remove(0)) } else { Box::new(PhraseQuery::new(terms)) });
    }
    if let (true, Some(tok), Some(field)) = (head.is_empty(), prefix_token(last), pair.prefixes) {
        return Some(term_query(Term::from_field_text(field, &tok)));
    }
    let mut q = PhrasePrefixQuery::new(terms);
    q.set_max_expansions(MAX_EXPANSIONS);
    Some(Box::new(q))
}

/// Documents of these share numbers.
pub fn share_set(f: &Fields, nos: &[u64]) -> Box<dyn Query> {
    let terms = nos.iter().map(|&no| Term::from_field_u64(f.share_no, no));
    if nos.len() <= SMALL_SHARE_SET {
        Box::new(BooleanQuery::union(terms.map(term_query).collect()))
    } else {
        Box::new(TermSetQuery::new(terms))
    }
}

/// The shares whose title or description have a clause's whole words, as a query on their
/// documents, and how many items they have.
fn share_docs(f: &Fields, table: &ShareTable, c: &Clause) -> (Option<Box<dyn Query>>, usize) {
    let matched: Vec<_> = table
        .entries()
        .iter()
        .filter(|e| match c.words.as_slice() {
            [w] => e.has_word(w),
            words => e.has_phrase(words),
        })
        .collect();
    let items = matched.iter().map(|e| e.info.items).sum();
    let nos: Vec<u64> = matched.iter().map(|e| e.no).collect();
    ((!nos.is_empty()).then(|| share_set(f, &nos)), items)
}

/// A clause as query parts: what must match, what adds bonuses, and a bound of its matches.
struct ClauseParts {
    required: Box<dyn Query>,
    bonuses: Vec<Box<dyn Query>>,
    bound: Option<(Term, usize)>,
}

/// One clause: a required part (the clause matches somewhere) and optional parts that add
/// the field bonuses.
///
/// A single word (or typed prefix) must be in `any` (its prefix tokens in `any_prefixes`) or
/// in the share's title or description, which scores [`OTHER`]; being in the name adds up to
/// [`NAME`] (a typed prefix that is not a whole word a bit less), in a tag up to [`TAG`].
/// Phrases, and prefixes too long for prefix tokens, take the best field instead. Titles and
/// descriptions need whole words (a share matching a typed prefix would bring in all its
/// items).
fn clause(f: &Fields, table: &ShareTable, c: &Clause) -> ClauseParts {
    let name = Pair { words: f.name, prefixes: Some(f.name_prefixes) };
    let tags = Pair { words: f.tags, prefixes: Some(f.tag_prefixes) };
    let (shares, share_items) = share_docs(f, table, c);
    let shares = shares.map(|q| konst(q, OTHER));
    let fast = match c.words.as_slice() {
        [w] if !c.prefix => Some((w, None)),
        [w] => prefix_token(w).map(|tok| (w, Some(tok))),
        _ => None,
    };
    let Some((word, tok)) = fast else {
        let folders = Pair { words: f.folders, prefixes: None };
        let mut alts = Vec::new();
        for (pair, score) in [(name, NAME), (tags, TAG), (folders, OTHER)] {
            alts.extend(words_query(pair, &c.words, false).map(|q| konst(q, score)));
            if c.prefix {
                alts.extend(words_query(pair, &c.words, true).map(|q| konst(q, score * PREFIX_SHARE)));
            }
        }
        alts.extend(shares);
        return ClauseParts { required: Box::new(DisjunctionMaxQuery::new(alts)), bonuses: Vec::new(), bound: None };
    };
    let text = |field: Field, t: &str| term_query(Term::from_field_text(field, t));
    let bound = match &tok {
        None => Term::from_field_text(f.any, word),
        Some(tok) => Term::from_field_text(f.any_prefixes, tok),
    };
    let (anywhere, in_name, in_tags) = match &tok {
        None => (text(f.any, word), konst(text(f.name, word), NAME - OTHER), text(f.tags, word)),
        Some(tok) => {
            let name_alts = vec![
                konst(text(f.name, word), NAME - OTHER),
                konst(text(f.name_prefixes, tok), NAME * PREFIX_SHARE - OTHER),
            ];
            (
                text(f.any_prefixes, tok),
                Box::new(DisjunctionMaxQuery::new(name_alts)) as Box<dyn Query>,
                text(f.tag_prefixes, tok),
            )
        }
    };
    let anywhere = konst(anywhere, OTHER);
    let required = match shares {
        Some(s) => Box::new(DisjunctionMaxQuery::new(vec![anywhere, s])),
        None => anywhere,
    };
    ClauseParts { required, bonuses: vec![in_name, konst(in_tags, TAG - OTHER)], bound: Some((bound, share_items)) }
}

/// The name starts with the query: the first word's anchor, then the other words in a row.
/// With a typed prefix after whole words, the prefix may be anywhere in the name.
fn starts_with(f: &Fields, p: &Parsed) -> Option<Box<dyn Query>> {
    let words: Vec<String> = p.words().map(str::to_string).collect();
    let prefix = p.prefix_word().is_some();
    let (first, rest) = words.split_first()?;
    let name = Pair { words: f.name, prefixes: Some(f.name_prefixes) };
    if rest.is_empty() {
        let q = match prefix_token(first).filter(|_| prefix) {
            Some(tok) => term_query(Term::from_field_text(f.name_prefixes, &anchor(&tok))),
            None if prefix => Box::new(PhrasePrefixQuery::new(vec![Term::from_field_text(f.name, &anchor(first))])),
            None => term_query(Term::from_field_text(f.name, &anchor(first))),
        };
        return Some(q);
    }
    let mut anchored = vec![anchor(first)];
    anchored.extend(rest.iter().cloned());
    if !prefix {
        return words_query(name, &anchored, false);
    }
    let (last, whole) = anchored.split_last()?;
    let head = words_query(name, whole, false)?;
    let tail = words_query(name, std::slice::from_ref(last), true)?;
    Some(Box::new(BooleanQuery::intersection(vec![head, tail])))
}

/// The hash the whole name must have to be the query.
fn exact_name(p: &Parsed) -> Option<u64> {
    let mut key = p.words().collect::<Vec<_>>().join(" ");
    normalize::truncate(&mut key, MAX_KEY_BYTES);
    (!key.is_empty()).then(|| key_hash(&key))
}

/// Builds the query. `shares` restricts to documents of these share numbers; `class` to a
/// mime class.
pub fn build(p: &Parsed, f: &Fields, table: &ShareTable, shares: Option<&[u64]>, class: Option<&str>) -> Plan {
    let mut parts: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let n = p.clauses.len().max(1) as f32;
    if p.clauses.is_empty() {
        parts.push((Occur::Must, konst(Box::new(AllQuery), 1.0)));
    }
    let mut bounds = Vec::new();
    for c in &p.clauses {
        let cp = clause(f, table, c);
        parts.push((Occur::Must, cp.required));
        parts.extend(cp.bonuses.into_iter().map(|q| (Occur::Should, q)));
        bounds.extend(cp.bound);
    }
    if let Some(nos) = shares {
        parts.push((Occur::Must, konst(share_set(f, nos), 0.0)));
    }
    if let Some(c) = class {
        parts.push((Occur::Must, konst(term_query(Term::from_field_text(f.mime_class, c)), 0.0)));
    }
    let mut starts_only = None;
    if let Some(q) = starts_with(f, p) {
        let mut only: Vec<(Occur, Box<dyn Query>)> = parts.iter().map(|(o, q)| (*o, q.box_clone())).collect();
        only.push((Occur::Must, konst(q.box_clone(), STARTS * n)));
        starts_only = Some(Box::new(BooleanQuery::new(only)) as Box<dyn Query>);
        parts.push((Occur::Should, konst(q, STARTS * n)));
    }
    // A name equal to the query also starts with it, so the starts-with bonus is a floor.
    let exact = exact_name(p).map(|hash| Exact { hash, bonus: EXACT * n, min_tier: STARTS * n });
    Plan { query: Box::new(BooleanQuery::new(parts)), starts_only, bounds, divisor: n, exact }
}

#[cfg(test)]
mod tests {
    use super::super::tokenizer::MAX_PREFIX_CHARS;
    use super::*;

    #[test]
    fn prefixes_use_the_prefix_field_unless_too_long_or_quoted() {
        let f = super::super::schema::fields(&super::super::schema::schema()).unwrap();
        let pair = Pair { words: f.name, prefixes: Some(f.name_prefixes) };
        let show = |words: &[&str]| {
            let w: Vec<String> = words.iter().map(|s| s.to_string()).collect();
            format!("{:?}", words_query(pair, &w, true).unwrap())
        };
        assert!(show(&["ab"]).contains("ab*"), "{}", show(&["ab"]));
        let long = "a".repeat(MAX_PREFIX_CHARS + 1);
        assert!(show(&[long.as_str()]).contains("PhrasePrefix"));
        assert!(show(&["x", "ab"]).contains("PhrasePrefix"));
        assert!(words_query(pair, &[], true).is_none());
    }
}
