//! The share table: per indexed share, its small number in the documents (`share_no`), the
//! indexed revision, and the share-level data search applies at query time (title and
//! description words, trust, weight, own). It is stored as the payload of every index commit,
//! so it always matches the documents, and changing trust or weight is a tiny commit instead
//! of a re-index.

use super::normalize::{self, Word};
use crate::db::Trust;
use crate::error::{Result, StoreError};
use serde::{Deserialize, Serialize};
use trove_proto::ShareId;

/// Largest search weight (as for subscriptions).
pub const MAX_WEIGHT: f32 = 1000.0;
/// Version of the payload format.
const FORMAT: u32 = 1;

/// What search needs to know about a share besides its manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct ShareMeta {
    pub share_id: ShareId,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Trust tier; own shares count as trusted whatever this says.
    pub trust: Trust,
    /// Ranking multiplier, finite, 0 ..= 1000; 1.0 is neutral.
    pub weight: f32,
    /// One of this node's own shares.
    pub own: bool,
}

impl ShareMeta {
    /// A normal-trust subscribed share with weight 1 and no title.
    pub fn new(share_id: ShareId) -> ShareMeta {
        ShareMeta { share_id, title: None, description: None, trust: Trust::Normal, weight: 1.0, own: false }
    }

    /// The trust tier filters compare against.
    pub fn effective_trust(&self) -> Trust {
        if self.own { Trust::Trusted } else { self.trust }
    }
}

/// An indexed share, as listed by [`super::SearchIndex::shares`].
#[derive(Clone, Debug, PartialEq)]
pub struct IndexedShare {
    pub meta: ShareMeta,
    /// Revision (manifest seq) the documents come from.
    pub seq: u64,
    /// Documents (items) indexed.
    pub items: usize,
}

/// One share in the table.
#[derive(Clone, Debug)]
pub struct Entry {
    pub no: u64,
    pub info: IndexedShare,
    /// Whole words of the title and of the description, one list per text.
    texts: Vec<Vec<Word>>,
}

/// All indexed shares.
#[derive(Clone, Debug, Default)]
pub struct ShareTable {
    entries: Vec<Entry>,
}

/// Checks a weight given by the caller.
pub fn check_weight(share_id: &ShareId, weight: f32) -> Result<()> {
    if weight.is_finite() && (0.0..=MAX_WEIGHT).contains(&weight) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "share {}: search weight {weight} is not between 0 and {MAX_WEIGHT}",
            share_id.short()
        )))
    }
}

fn texts_of(meta: &ShareMeta) -> Vec<Vec<Word>> {
    [&meta.title, &meta.description].into_iter().flatten().map(|t| normalize::words(t, true)).collect()
}

impl Entry {
    fn new(no: u64, info: IndexedShare) -> Entry {
        let texts = texts_of(&info.meta);
        Entry { no, info, texts }
    }

    /// Whether the title or description has the word `w` (a word or a camelCase part).
    pub fn has_word(&self, w: &str) -> bool {
        self.texts.iter().flatten().any(|x| x.text == w)
    }

    /// Whether the title or description has `words` in a row.
    pub fn has_phrase(&self, words: &[String]) -> bool {
        !words.is_empty()
            && self.texts.iter().any(|text| {
                let whole: Vec<&str> = text.iter().filter(|w| !w.part).map(|w| w.text.as_str()).collect();
                whole.windows(words.len()).any(|win| win.iter().zip(words).all(|(a, b)| *a == b.as_str()))
            })
    }
}

impl ShareTable {
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// One more than the largest share number in use.
    pub fn no_limit(&self) -> u64 {
        self.entries.iter().map(|e| e.no + 1).max().unwrap_or(0)
    }

    /// Adds or replaces a share; returns its number (kept when it was indexed already, else the
    /// smallest free one, so numbers stay dense).
    pub fn upsert(&mut self, info: IndexedShare) -> u64 {
        if let Some(e) = self.entries.iter_mut().find(|e| e.info.meta.share_id == info.meta.share_id) {
            *e = Entry::new(e.no, info);
            return e.no;
        }
        let mut used: Vec<u64> = self.entries.iter().map(|e| e.no).collect();
        used.sort_unstable();
        let no = used.iter().enumerate().find(|&(i, &n)| n != i as u64).map_or(used.len() as u64, |(i, _)| i as u64);
        self.entries.push(Entry::new(no, info));
        no
    }

    /// Removes a share; returns its number if it was indexed.
    pub fn remove(&mut self, id: &ShareId) -> Option<u64> {
        let i = self.entries.iter().position(|e| e.info.meta.share_id == *id)?;
        Some(self.entries.swap_remove(i).no)
    }

    /// Changes trust and weight; false if the share is not indexed.
    pub fn set_options(&mut self, id: &ShareId, trust: Trust, weight: f32) -> bool {
        match self.entries.iter_mut().find(|e| e.info.meta.share_id == *id) {
            Some(e) => {
                e.info.meta.trust = trust;
                e.info.meta.weight = weight;
                true
            }
            None => false,
        }
    }

    /// The commit payload (JSON).
    pub fn to_payload(&self) -> String {
        let shares = self
            .entries
            .iter()
            .map(|e| StoredShare {
                no: e.no,
                share_id: e.info.meta.share_id.to_hex(),
                seq: e.info.seq,
                items: e.info.items,
                title: e.info.meta.title.clone(),
                description: e.info.meta.description.clone(),
                trust: e.info.meta.trust.as_str().to_string(),
                weight: e.info.meta.weight,
                own: e.info.meta.own,
            })
            .collect();
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_string(&Stored { format: FORMAT, shares }).unwrap_or_default()
    }

    /// Reads a commit payload back.
    pub fn from_payload(payload: &str) -> Result<ShareTable> {
        let bad = |why: String| StoreError::Corrupt(format!("search index share table: {why}"));
        let stored: Stored = serde_json::from_str(payload).map_err(|e| bad(e.to_string()))?;
        if stored.format != FORMAT {
            return Err(bad(format!("format {} (this version reads {FORMAT})", stored.format)));
        }
        let mut table = ShareTable::default();
        for s in stored.shares {
            let share_id = ShareId::from_hex(&s.share_id).map_err(|e| bad(e.to_string()))?;
            if !s.weight.is_finite() || table.entries.iter().any(|e| e.no == s.no || e.info.meta.share_id == share_id) {
                return Err(bad(format!("share {} listed twice or with a bad weight", share_id.short())));
            }
            let meta = ShareMeta {
                share_id,
                title: s.title,
                description: s.description,
                trust: Trust::parse(&s.trust)?,
                weight: s.weight,
                own: s.own,
            };
            table.entries.push(Entry::new(s.no, IndexedShare { meta, seq: s.seq, items: s.items }));
        }
        Ok(table)
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    shares: Vec<StoredShare>,
}

#[derive(Serialize, Deserialize)]
struct StoredShare {
    no: u64,
    share_id: String,
    seq: u64,
    items: usize,
    title: Option<String>,
    description: Option<String>,
    trust: String,
    weight: f32,
    own: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(n: u8, title: &str) -> IndexedShare {
        let mut meta = ShareMeta::new(ShareId([n; 32]));
        meta.title = Some(title.to_string());
        IndexedShare { meta, seq: u64::from(n), items: 3 }
    }

    #[test]
    fn numbers_are_dense_and_reused() {
        let mut t = ShareTable::default();
        assert_eq!(t.upsert(info(1, "a")), 0);
        assert_eq!(t.upsert(info(2, "b")), 1);
        assert_eq!(t.upsert(info(3, "c")), 2);
        assert_eq!(t.upsert(info(2, "b2")), 1);
        assert_eq!(t.remove(&ShareId([1; 32])), Some(0));
        assert_eq!(t.upsert(info(4, "d")), 0);
        assert_eq!(t.no_limit(), 3);
        assert_eq!(t.entries().iter().find(|e| e.no == 1).map(|e| e.info.meta.share_id), Some(ShareId([2; 32])));
    }

    #[test]
    fn payload_round_trips_and_rejects_garbage() {
        let mut t = ShareTable::default();
        t.upsert(info(1, "Holiday Photos"));
        assert!(t.set_options(&ShareId([1; 32]), Trust::Untrusted, 2.5));
        assert!(!t.set_options(&ShareId([9; 32]), Trust::Untrusted, 2.5));
        let back = ShareTable::from_payload(&t.to_payload()).unwrap();
        assert_eq!(back.entries()[0].info, t.entries()[0].info);
        assert!(back.entries()[0].has_word("holiday"));
        assert!(back.entries()[0].has_word("photos"));
        assert!(!back.entries()[0].has_word("phot"));
        assert!(ShareTable::from_payload("{").is_err());
        assert!(ShareTable::from_payload(r#"{"format":9,"shares":[]}"#).is_err());
    }

    #[test]
    fn phrases_match_consecutive_words() {
        let e = Entry::new(0, info(1, "The Big Lebowski, remastered"));
        let w = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(e.has_phrase(&w(&["big", "lebowski"])));
        assert!(e.has_phrase(&w(&["lebowski", "remastered"])));
        assert!(!e.has_phrase(&w(&["big", "leb"])));
        assert!(!e.has_phrase(&w(&["the", "lebowski"])));
        assert!(!e.has_phrase(&[]));
    }
}
