//! Parsing what a user types where a command takes a share: a share link, a hex share id,
//! or the name (or id prefix) of one of the node's own shares.

use crate::error::{NodeError, Result};
use trove_proto::{PubKey, ShareId, ShareLink};
use trove_store::db::Db;

/// A share named by the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareRef {
    pub share_id: ShareId,
    pub pubkey: Option<PubKey>,
    /// Bootstrap hints carried by a link.
    pub hints: Vec<String>,
}

/// Parses a link or a 64-digit id; with `db`, also own share names and id prefixes, and
/// known subscriptions by id prefix.
pub fn parse(input: &str, db: Option<&Db>) -> Result<ShareRef> {
    let s = input.trim();
    if s.starts_with("scp2p://") {
        let link = ShareLink::parse(s)?;
        return Ok(ShareRef { share_id: link.share_id, pubkey: Some(link.share_pubkey), hints: link.bootstrap });
    }
    if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(ShareRef { share_id: ShareId::from_hex(s)?, pubkey: None, hints: Vec::new() });
    }
    if let Some(db) = db {
        if let Ok(own) = db.find_share(s) {
            return Ok(ShareRef { share_id: own.share_id, pubkey: Some(own.pubkey), hints: Vec::new() });
        }
        let lower = s.to_ascii_lowercase();
        if lower.len() >= 4 && lower.chars().all(|c| c.is_ascii_hexdigit()) {
            let matches: Vec<_> =
                db.subscriptions()?.into_iter().filter(|x| x.share_id.to_hex().starts_with(&lower)).collect();
            if matches.len() == 1 {
                let m = &matches[0];
                return Ok(ShareRef { share_id: m.share_id, pubkey: m.share_pubkey, hints: m.bootstrap.clone() });
            }
            if matches.len() > 1 {
                return Err(NodeError::Invalid(format!(
                    "'{s}' matches {} subscriptions; type more of the id",
                    matches.len()
                )));
            }
        }
    }
    Err(NodeError::NotFound(format!(
        "'{s}' is not a share link (scp2p://s/…), a 64-digit share id, or the name of one of your shares"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_ids_and_errors() {
        let key = trove_proto::Keypair::from_seed([4; 32]);
        let link = ShareLink::new(key.public(), vec!["tcp://10.0.0.1:7001".into()]).to_string();
        let r = parse(&link, None).unwrap();
        assert_eq!(r.share_id, key.share_id());
        assert_eq!(r.hints, vec!["tcp://10.0.0.1:7001"]);
        let r = parse(&key.share_id().to_hex(), None).unwrap();
        assert!(r.pubkey.is_none());
        let e = parse("holiday photos", None).unwrap_err().to_string();
        assert!(e.contains("not a share link"), "{e}");
        assert!(parse("scp2p://s/garbage", None).is_err());
    }
}
