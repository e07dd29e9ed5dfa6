//! Local, subscription-scoped search over the manifests of subscribed and own shares, on
//! tantivy. Never touches the network.
//!
//! - [`SearchIndex`] owns the index directory: [`SearchIndex::open`] (with recovery, see
//!   [`OpenState`]), [`SearchIndex::index_share`], [`SearchIndex::remove_share`],
//!   [`SearchIndex::set_share_options`], [`SearchIndex::rebuild`],
//!   [`SearchIndex::set_blocklist`] and [`SearchIndex::search`].
//! - [`SearchQuery`] in, [`SearchResults`] of [`Hit`]s out; the query language is described
//!   in [`SearchQuery`], ranking on [`Hit::score`].
//!
//! Files, bottom up: `normalize` (text folding shared by both sides), `tokenizer`, `schema`,
//! `document` (item → document), `mime`, `shares` (share table), `parse` (query text →
//! clauses), `plan` (clauses → tantivy query), `collect` (filters, order, paging), `cursor`,
//! `highlight`, `hit`, `open` (opening and recovery), `index` (the [`SearchIndex`]).

mod collect;
mod cursor;
mod document;
mod error;
mod highlight;
mod hit;
mod index;
mod mime;
mod normalize;
mod open;
mod parse;
mod plan;
mod query;
mod schema;
mod shares;
mod tokenizer;

pub use hit::{Hit, SearchResults};
pub use index::SearchIndex;
pub use open::OpenState;
pub use query::{DEFAULT_LIMIT, DEFAULT_TRUST, MAX_LIMIT, SearchQuery};
pub use shares::{IndexedShare, MAX_WEIGHT, ShareMeta};
