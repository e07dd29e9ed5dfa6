//! Read-side helpers over the database: decoded manifests, own public shares as listing
//! summaries. Blocking; callers run them on blocking threads where it matters.

use crate::error::{NodeError, Result};
use trove_proto::wire::{Manifest, PublicShareSummary, Visibility};
use trove_proto::{ManifestId, ShareId};
use trove_store::db::Db;

/// A stored manifest, decoded.
pub fn manifest(db: &Db, id: &ManifestId) -> Result<Option<Manifest>> {
    let Some(m) = db.manifest(id)? else { return Ok(None) };
    Manifest::from_bytes(&m.bytes)
        .map(Some)
        .map_err(|e| NodeError::Invalid(format!("stored manifest {} does not decode: {e}", id.short())))
}

/// The newest manifest of one of our own shares.
pub fn own_latest(db: &Db, share: &ShareId) -> Result<Option<Manifest>> {
    match db.latest_revision(share)? {
        Some(r) => manifest(db, &r.manifest_id),
        None => Ok(None),
    }
}

/// Own shares whose latest manifest is public (and lists `community`, if given), ordered as
/// v1 lists them: newest head first, then higher seq, then share id.
pub fn public_summaries(db: &Db, community: Option<ShareId>, max: usize) -> Result<Vec<PublicShareSummary>> {
    let mut rows = Vec::new();
    for s in db.shares()? {
        let Some(rev) = &s.latest else { continue };
        let Some(m) = manifest(db, &rev.manifest_id)? else { continue };
        if m.visibility != Visibility::Public {
            continue;
        }
        if let Some(c) = community
            && !m.communities.contains(&c)
        {
            continue;
        }
        let updated = db.head(&s.share_id)?.map(|h| h.head.updated_at).unwrap_or(rev.published_at);
        rows.push((
            updated,
            PublicShareSummary {
                share_id: s.share_id,
                share_pubkey: s.pubkey,
                latest_seq: rev.seq,
                latest_manifest_id: rev.manifest_id,
                title: m.title.clone(),
                description: m.description.clone(),
            },
        ));
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.latest_seq.cmp(&a.1.latest_seq)).then(a.1.share_id.cmp(&b.1.share_id)));
    Ok(rows.into_iter().take(max).map(|r| r.1).collect())
}
