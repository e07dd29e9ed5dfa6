//! Turning a parsed query into a tantivy query whose score is the ranking tier.
//!
//! Every clause must match in some field; the best field counts (a disjunction-max of
//! constant scores): name [`NAME`], tag [`TAG`], path or the share's title/description
//! [`OTHER`]; a match of the typed prefix only scores a bit less than a whole word. Two
//! optional bonuses rank whole-name matches first: the name starts with the query
//! ([`STARTS`]) and the name (with or without extension) equals the query ([`EXACT`]).
//! Bonuses are per clause, so dividing the sum by the clause count gives tiers that do not
//! depend on the query length: exact 11,100 > starts-with 1,100 > name words 100 > tags 30
//! > path, title, description 10. Filters (share list, mime class) score nothing.

use super::document::MAX_KEY_BYTES;
use super::normalize;
use super::parse::{Clause, Parsed};
use super::schema::Fields;
use super::shares::ShareTable;
use super::tokenizer::anchor;
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, DisjunctionMaxQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query,
    TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};

/// A whole word or phrase in the name.
pub const NAME: f32 = 100.0;
/// In a tag.
pub const TAG: f32 = 30.0;
/// In the path, or in the share's title or description.
pub const OTHER: f32 = 10.0;
/// A match of the typed prefix only scores this share of a whole-word match.
const PREFIX_SHARE: f32 = 0.8;
/// The name starts with the query.
pub const STARTS: f32 = 1000.0;
/// The name, with or without its extension, is the query.
pub const EXACT: f32 = 10_000.0;
/// Most words one typed prefix expands to inside a phrase.
const MAX_EXPANSIONS: u32 = 1000;

/// A tantivy query and the number its scores are divided by.
pub struct Plan {
    pub query: Box<dyn Query>,
    pub divisor: f32,
}

fn konst(q: Box<dyn Query>, score: f32) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(q, score))
}

fn terms(field: Field, words: &[String]) -> Vec<Term> {
    words.iter().map(|w| Term::from_field_text(field, w)).collect()
}

/// The words exactly: a term, or a phrase.
fn exact(t: Vec<Term>) -> Option<Box<dyn Query>> {
    match t.len() {
        0 => None,
        1 => t.into_iter().next().map(|t| Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn Query>),
        _ => Some(Box::new(PhraseQuery::new(t))),
    }
}

/// The words with the last one as a prefix.
fn prefixed(t: Vec<Term>) -> Option<Box<dyn Query>> {
    if t.is_empty() {
        return None;
    }
    let mut q = PhrasePrefixQuery::new(t);
    q.set_max_expansions(MAX_EXPANSIONS);
    Some(Box::new(q))
}

/// The shares whose title or description match a clause, as a query on their documents.
fn share_docs(f: &Fields, table: &ShareTable, c: &Clause, prefix: bool) -> Option<Box<dyn Query>> {
    let nos: Vec<Term> = table
        .entries()
        .iter()
        .filter(|e| match c.words.as_slice() {
            [w] => e.has_word(w, prefix),
            words => e.has_phrase(words, prefix),
        })
        .map(|e| Term::from_field_u64(f.share_no, e.no))
        .collect();
    (!nos.is_empty()).then(|| Box::new(TermSetQuery::new(nos)) as Box<dyn Query>)
}

/// One clause: the best-scoring field that has it.
fn clause(f: &Fields, table: &ShareTable, c: &Clause) -> Box<dyn Query> {
    let mut alts = Vec::new();
    for (field, score) in [(f.name, NAME), (f.tags, TAG), (f.path, OTHER)] {
        alts.extend(exact(terms(field, &c.words)).map(|q| konst(q, score)));
        if c.prefix {
            alts.extend(prefixed(terms(field, &c.words)).map(|q| konst(q, score * PREFIX_SHARE)));
        }
    }
    alts.extend(share_docs(f, table, c, false).map(|q| konst(q, OTHER)));
    if c.prefix {
        alts.extend(share_docs(f, table, c, true).map(|q| konst(q, OTHER * PREFIX_SHARE)));
    }
    Box::new(DisjunctionMaxQuery::new(alts))
}

/// The name starts with the query: the first word's anchor, then the other words in a row.
fn starts_with(f: &Fields, p: &Parsed) -> Option<Box<dyn Query>> {
    let words: Vec<&str> = p.words().collect();
    let (first, rest) = words.split_first()?;
    let mut t = vec![Term::from_field_text(f.name, &anchor(first))];
    t.extend(rest.iter().map(|w| Term::from_field_text(f.name, w)));
    if p.prefix_word().is_some() { prefixed(t) } else { exact(t) }
}

/// The whole name is the query.
fn exact_name(f: &Fields, p: &Parsed) -> Option<Box<dyn Query>> {
    let mut key = p.words().collect::<Vec<_>>().join(" ");
    normalize::truncate(&mut key, MAX_KEY_BYTES);
    (!key.is_empty()).then(|| {
        Box::new(TermQuery::new(Term::from_field_text(f.name_key, &key), IndexRecordOption::Basic)) as Box<dyn Query>
    })
}

/// Builds the query. `shares` restricts to documents of these share numbers; `class` to a
/// mime class.
pub fn build(p: &Parsed, f: &Fields, table: &ShareTable, shares: Option<&[u64]>, class: Option<&str>) -> Plan {
    let mut parts: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let n = p.clauses.len().max(1) as f32;
    if p.clauses.is_empty() {
        parts.push((Occur::Must, konst(Box::new(AllQuery), 1.0)));
    }
    for c in &p.clauses {
        parts.push((Occur::Must, clause(f, table, c)));
    }
    if let Some(q) = starts_with(f, p) {
        parts.push((Occur::Should, konst(q, STARTS * n)));
    }
    if let Some(q) = exact_name(f, p) {
        parts.push((Occur::Should, konst(q, EXACT * n)));
    }
    if let Some(nos) = shares {
        let t = nos.iter().map(|&no| Term::from_field_u64(f.share_no, no));
        parts.push((Occur::Must, konst(Box::new(TermSetQuery::new(t)), 0.0)));
    }
    if let Some(c) = class {
        let t = Term::from_field_text(f.mime_class, c);
        parts.push((Occur::Must, konst(Box::new(TermQuery::new(t, IndexRecordOption::Basic)), 0.0)));
    }
    Plan { query: Box::new(BooleanQuery::new(parts)), divisor: n }
}
