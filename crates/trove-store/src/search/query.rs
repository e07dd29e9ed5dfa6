//! What a search asks for: the query text and the filters, with their defaults.

use crate::db::Trust;
use trove_proto::ShareId;

/// Hits per page unless asked otherwise.
pub const DEFAULT_LIMIT: usize = 20;
/// Most hits per page.
pub const MAX_LIMIT: usize = 1000;
/// Trust tiers searched unless asked otherwise.
pub const DEFAULT_TRUST: [Trust; 2] = [Trust::Trusted, Trust::Normal];

/// A search.
///
/// Query language: words are ANDed; each may match the item's name, tags or folders, or (as
/// a whole word) the share's title or description. The last word is also a prefix while
/// typing ("ubu" finds "Ubuntu") unless the text ends with a space or punctuation.
/// `"quoted words"` must appear in a row; an unclosed quote runs to the end of the text.
/// Matching ignores case and diacritics (NFKD, marks removed, lowercase); words split on
/// anything that is not a letter or digit, and camelCase words also match by their parts.
/// Any text is accepted: at most 32 words are used and words are cut at 64 bytes. An empty
/// text lists everything the filters let through.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchQuery {
    /// The words to look for; empty lists everything the filters allow.
    pub text: String,
    /// Only these shares (`None`: every indexed share).
    pub shares: Option<Vec<ShareId>>,
    /// Trust tiers to include; empty means the default, trusted and normal. Own shares count
    /// as trusted.
    pub trust: Vec<Trust>,
    /// Only items of this mime class ("video", "audio", "image", "text", "application", …;
    /// "video/*" and "video/mp4" mean "video" too). Items without a mime are classed by
    /// their extension.
    pub mime_class: Option<String>,
    /// Inclusive size bounds in bytes.
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    /// Hits per page, at most [`MAX_LIMIT`] (larger values are capped); 0 only counts.
    pub limit: usize,
    /// Continue after the page that returned this cursor.
    pub cursor: Option<String>,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            text: String::new(),
            shares: None,
            trust: DEFAULT_TRUST.to_vec(),
            mime_class: None,
            min_size: None,
            max_size: None,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

impl SearchQuery {
    /// A search for `text` with the default filters.
    pub fn text(text: impl Into<String>) -> SearchQuery {
        SearchQuery { text: text.into(), ..SearchQuery::default() }
    }

    /// The trust tiers to include, with the default applied.
    pub fn trust_tiers(&self) -> &[Trust] {
        if self.trust.is_empty() { &DEFAULT_TRUST } else { &self.trust }
    }

    /// The page size, capped.
    pub fn page_size(&self) -> usize {
        self.limit.min(MAX_LIMIT)
    }
}
