//! Search results: one [`Hit`] per matching manifest item, the total number of matches and
//! the cursor of the next page.

use super::highlight;
use super::parse::Parsed;
use super::schema::Fields;
use crate::error::{Result, StoreError};
use std::ops::Range;
use tantivy::TantivyDocument;
use tantivy::schema::Value;
use trove_proto::{ContentId, ShareId};

/// One matching item.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub share_id: ShareId,
    pub content_id: ContentId,
    pub name: String,
    pub path: Option<String>,
    pub size: u64,
    pub mime: Option<String>,
    pub tags: Vec<String>,
    /// Ranking tier times the share's weight. Tiers: about 11,100 when the name (with or
    /// without extension) is the query, 1,100 when it starts with the query, 100 for words in
    /// the name (80 for a typed prefix), 30 in tags (120 in name and tags), 10 in folders or
    /// the share's title or description; averaged over the query's words.
    pub score: f32,
    /// Byte ranges of `name` that matched, sorted, non-overlapping, on character boundaries.
    pub highlight: Vec<Range<usize>>,
}

impl Hit {
    /// The name with the matched parts wrapped, e.g. `hit.marked("[", "]")` → "[Ubu]ntu.iso".
    pub fn marked(&self, open: &str, close: &str) -> String {
        highlight::mark(&self.name, &self.highlight, open, close)
    }

    /// The hit for a stored document.
    pub(crate) fn from_doc(
        f: &Fields,
        doc: &TantivyDocument,
        share_id: ShareId,
        score: f32,
        p: &Parsed,
    ) -> Result<Hit> {
        let text = |field| doc.get_first(field).and_then(|v| v.as_str().map(str::to_string));
        let content_id = doc
            .get_first(f.content_id)
            .and_then(|v| v.as_bytes().and_then(ContentId::from_slice))
            .ok_or_else(|| {
                StoreError::Corrupt(format!("search index: a document of share {} has no content id", share_id.short()))
            })?;
        let name = text(f.name).unwrap_or_default();
        let highlight = highlight::ranges(&name, p);
        Ok(Hit {
            share_id,
            content_id,
            path: text(f.path),
            size: doc.get_first(f.size).and_then(|v| v.as_u64()).unwrap_or(0),
            mime: text(f.mime),
            tags: doc.get_all(f.tags).filter_map(|v| v.as_str().map(str::to_string)).collect(),
            score,
            highlight,
            name,
        })
    }
}

/// One page of results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchResults {
    /// Every match of the query and filters (not only this page).
    pub total: usize,
    /// This page, best first.
    pub hits: Vec<Hit>,
    /// Pass as [`super::SearchQuery::cursor`] for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}
