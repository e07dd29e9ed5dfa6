//! The collector: applies the filters tantivy does not (trust tiers and blocked shares
//! through per-share weights, blocked contents, size bounds), adds the exact-name bonus,
//! turns tier scores into final scores (tier × share weight), counts every match, and keeps
//! the best `keep` matches after the cursor in a total order: score descending, then name
//! (sort key), content id, document key ascending. Columns other than the share number are
//! read only for documents that can still make the page.

use super::schema::{CONTENT64, DOC_KEY, NAME_HASH, NAME_SORT, SHARE_NO, SIZE, STEM_HASH};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Cardinality, ColumnValues};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

/// Where a match sits in the result order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RankKey {
    pub score: f32,
    pub name: u64,
    pub content: u64,
    pub key: u64,
}

/// The result order: `Less` means `a` comes first.
pub fn rank_cmp(a: &RankKey, b: &RankKey) -> Ordering {
    b.score.total_cmp(&a.score).then(a.name.cmp(&b.name)).then(a.content.cmp(&b.content)).then(a.key.cmp(&b.key))
}

/// What one search lets through.
pub struct Filter {
    /// Weight per share number; negative means the share is filtered out.
    pub weights: Vec<f32>,
    /// First 8 bytes of blocked content ids.
    pub blocked: Arc<HashSet<u64>>,
    /// Inclusive size bounds, when any was given.
    pub size: Option<(u64, u64)>,
    /// Only matches strictly after this position.
    pub after: Option<RankKey>,
    /// Tier scores are divided by this.
    pub divisor: f32,
    /// The exact-name check, when the query has words.
    pub exact: Option<Exact>,
}

/// The exact-name bonus: added when the name (with or without extension) hashes like the
/// whole query. Only documents whose tier shows the name starts with the query (at least
/// `min_tier`) can be exact, so only those read the hash columns.
#[derive(Clone, Copy, Debug)]
pub struct Exact {
    pub hash: u64,
    pub bonus: f32,
    pub min_tier: f32,
}

/// A kept match.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub rank: RankKey,
    pub addr: DocAddress,
    /// The document's share number.
    pub share: u64,
}

/// All matches counted, and the best kept ones in order.
#[derive(Debug, Default)]
pub struct Harvest {
    pub total: usize,
    pub top: Vec<Candidate>,
}

/// Orders candidates so a max-heap keeps the worst on top.
struct Worst(Candidate);

impl PartialEq for Worst {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Worst {
    fn cmp(&self, o: &Self) -> Ordering {
        rank_cmp(&self.0.rank, &o.0.rank)
    }
}

/// The collector for one pass of a search: keeps the best `keep` matches, or with `keep` 0
/// only counts (without scoring).
pub struct RankCollector {
    pub filter: Arc<Filter>,
    pub keep: usize,
}

/// Per-segment state.
pub struct SegmentRank {
    filter: Arc<Filter>,
    keep: usize,
    segment: SegmentOrdinal,
    share: Arc<dyn ColumnValues<u64>>,
    size: Arc<dyn ColumnValues<u64>>,
    name: Arc<dyn ColumnValues<u64>>,
    content: Arc<dyn ColumnValues<u64>>,
    key: Arc<dyn ColumnValues<u64>>,
    stem_hash: Arc<dyn ColumnValues<u64>>,
    name_hash: Arc<dyn ColumnValues<u64>>,
    heap: BinaryHeap<Worst>,
    total: usize,
}

impl Collector for RankCollector {
    type Fruit = Harvest;
    type Child = SegmentRank;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<SegmentRank> {
        let ff = reader.fast_fields();
        // Every document has every column, so the values are read directly; a column that is
        // not full (never written so) goes through the slower first-or-default reader.
        let col = |name: &str| -> tantivy::Result<Arc<dyn ColumnValues<u64>>> {
            let c = ff.u64(name)?;
            Ok(if matches!(c.get_cardinality(), Cardinality::Full) {
                c.values
            } else {
                ff.column_first_or_default(name)?
            })
        };
        Ok(SegmentRank {
            filter: self.filter.clone(),
            keep: self.keep,
            segment,
            share: col(SHARE_NO)?,
            size: col(SIZE)?,
            name: col(NAME_SORT)?,
            content: col(CONTENT64)?,
            key: col(DOC_KEY)?,
            stem_hash: col(STEM_HASH)?,
            name_hash: col(NAME_HASH)?,
            heap: BinaryHeap::with_capacity(self.keep.min(1024) + 1),
            total: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        self.keep > 0
    }

    fn merge_fruits(&self, fruits: Vec<Harvest>) -> tantivy::Result<Harvest> {
        let mut all = Harvest::default();
        for f in fruits {
            all.total += f.total;
            all.top.extend(f.top);
        }
        all.top.sort_by(|a, b| rank_cmp(&a.rank, &b.rank));
        all.top.truncate(self.keep);
        Ok(all)
    }
}

impl SegmentRank {
    /// Where a document sits relative to `b` (`Less`: it comes first), reading the
    /// tie-break columns only as far as needed.
    fn cmp_to(&self, doc: DocId, score: f32, b: &RankKey) -> Ordering {
        b.score
            .total_cmp(&score)
            .then_with(|| self.name.get_val(doc).cmp(&b.name))
            .then_with(|| self.content.get_val(doc).cmp(&b.content))
            .then_with(|| self.key.get_val(doc).cmp(&b.key))
    }
}

impl SegmentCollector for SegmentRank {
    type Fruit = Harvest;

    fn collect(&mut self, doc: DocId, tier: Score) {
        let f = &*self.filter;
        let no = self.share.get_val(doc);
        let Some(&weight) = usize::try_from(no).ok().and_then(|i| f.weights.get(i)) else { return };
        if weight < 0.0 {
            return;
        }
        if let Some((min, max)) = f.size {
            let size = self.size.get_val(doc);
            if size < min || size > max {
                return;
            }
        }
        if !f.blocked.is_empty() && f.blocked.contains(&self.content.get_val(doc)) {
            return;
        }
        self.total += 1;
        if self.keep == 0 {
            return;
        }
        let mut tier = tier;
        if let Some(x) = f.exact
            && tier >= x.min_tier
            && (self.stem_hash.get_val(doc) == x.hash || self.name_hash.get_val(doc) == x.hash)
        {
            tier += x.bonus;
        }
        let score = tier / f.divisor * weight;
        if let Some(a) = &f.after
            && self.cmp_to(doc, score, a) != Ordering::Greater
        {
            return;
        }
        if self.heap.len() >= self.keep {
            match self.heap.peek() {
                Some(w) if self.cmp_to(doc, score, &w.0.rank) == Ordering::Less => {
                    self.heap.pop();
                }
                _ => return,
            }
        }
        let rank = RankKey {
            score,
            name: self.name.get_val(doc),
            content: self.content.get_val(doc),
            key: self.key.get_val(doc),
        };
        self.heap.push(Worst(Candidate { rank, addr: DocAddress::new(self.segment, doc), share: no }));
    }

    fn harvest(self) -> Harvest {
        let top = self.heap.into_sorted_vec().into_iter().map(|w| w.0).collect();
        Harvest { total: self.total, top }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(score: f32, name: u64, content: u64, key: u64) -> RankKey {
        RankKey { score, name, content, key }
    }

    #[test]
    fn order_is_score_then_name_content_key() {
        let mut v = [k(1.0, 5, 0, 0), k(2.0, 9, 9, 9), k(1.0, 5, 0, 1), k(1.0, 4, 7, 7), k(1.0, 5, 1, 0)];
        v.sort_by(rank_cmp);
        assert_eq!(v, [k(2.0, 9, 9, 9), k(1.0, 4, 7, 7), k(1.0, 5, 0, 0), k(1.0, 5, 0, 1), k(1.0, 5, 1, 0)]);
    }
}
