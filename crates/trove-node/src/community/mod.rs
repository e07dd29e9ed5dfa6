//! Communities: the discovery boundary beyond the LAN. A community is a share (its id and
//! public key); nodes join one explicitly, find the other members and browse the public
//! shares bound to it. Nothing is ever discovered automatically.
//!
//! Two layers run side by side:
//! - v1 (SCP2P-WIRE.md §4.2, §7.7): every member announces its addresses in the
//!   CommunityMembers list at the community info key in the DHT, answers
//!   GET_COMMUNITY_STATUS and lists its own public shares bound to the community with
//!   LIST_COMMUNITY_PUBLIC_SHARES. v1 members are seen, and see trove members, this way.
//! - trove (`community` feature, docs/PROTOCOL.md §6): signed member and share records with
//!   seq and tombstones, kept in the database and read from peers as a paged stream with
//!   tamper-checked cursors, incrementally; fresh records are pushed to a few members. This
//!   scales to many thousands of members and public shares.
//!
//! Files: [`membership`] (create, join, leave, tokens), [`records`] (own records, checking
//! and storing received ones), [`serve`] (answering peers), [`refresh`] (reading the network),
//! [`announce`] (DHT announcements, publish hook, periodic upkeep), [`views`] (what front ends
//! show), [`visibility`] (public/private republishing).

pub mod announce;
pub mod membership;
pub mod records;
pub mod refresh;
pub mod serve;
pub mod views;
pub mod visibility;

pub(crate) use announce::run_loop;
pub use membership::{CommunityInfo, JoinOptions, TokenView};
pub use records::AcceptReport;
pub use refresh::{RefreshReport, SyncStats};
pub use views::{BrowseKind, BrowsePage, BrowseQuery, CommunityShareView, MemberView, RemotePage};

use crate::error::{NodeError, Result};
use crate::node::Inner;
use std::collections::HashMap;
use std::sync::Mutex;
use trove_proto::wire::{PeerAddr, PublicShareSummary};
use trove_proto::{PubKey, ShareId};
use trove_store::db::{Community, Db};

/// This node's own records of one community (its member record, its share records).
pub(crate) type OwnRecords = (Vec<trove_proto::wire::MemberRecord>, Vec<trove_proto::wire::ShareRecord>);

/// Setting under which the cursor secret is kept (hex).
const CURSOR_SECRET_SETTING: &str = "community.cursor_secret";

/// A v1 member confirmed by GET_COMMUNITY_STATUS in the last refresh, with the public
/// shares it listed.
#[derive(Clone, Debug)]
pub(crate) struct V1Member {
    pub node_pubkey: PubKey,
    pub addr: PeerAddr,
    pub has_token: bool,
    pub shares: Vec<PublicShareSummary>,
    pub seen_at: u64,
}

/// Per-node community state that is not in the database.
pub(crate) struct State {
    /// Keys the record-stream cursors this node hands out.
    pub cursor_secret: [u8; 32],
    /// v1 members per community, as of the last refresh.
    pub v1: Mutex<HashMap<ShareId, Vec<V1Member>>>,
    /// One refresh at a time.
    pub refresh_lock: tokio::sync::Mutex<()>,
}

impl State {
    /// Loads (or creates and saves) the cursor secret.
    pub(crate) fn load(db: &Db) -> Result<State> {
        let secret = match db.setting::<String>(CURSOR_SECRET_SETTING)? {
            Some(h) => {
                let mut s = [0u8; 32];
                hex::decode_to_slice(h.trim(), &mut s)
                    .map_err(|_| NodeError::Invalid(format!("setting {CURSOR_SECRET_SETTING} is not 64 hex digits")))?;
                s
            }
            None => {
                let s: [u8; 32] = trove_proto::keys::random_bytes();
                db.set_setting(CURSOR_SECRET_SETTING, &hex::encode(s))?;
                s
            }
        };
        Ok(State { cursor_secret: secret, v1: Mutex::default(), refresh_lock: tokio::sync::Mutex::new(()) })
    }
}

impl Inner {
    /// A joined community named by a link, a hex id or a unique id prefix (≥ 4 digits), or
    /// by its local name.
    pub(crate) fn find_community(&self, target: &str) -> Result<Community> {
        let t = target.trim();
        let joined = self.db.communities()?;
        let id = if t.starts_with("scp2p://") {
            Some(trove_proto::ShareLink::parse(t)?.share_id)
        } else if t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit()) {
            Some(ShareId::from_hex(t)?)
        } else {
            None
        };
        if let Some(id) = id {
            return joined
                .into_iter()
                .find(|c| c.share_id == id)
                .ok_or_else(|| NodeError::NotFound(format!("community {id} is not joined; join it first")));
        }
        let lower = t.to_ascii_lowercase();
        let matches: Vec<Community> = joined
            .into_iter()
            .filter(|c| {
                c.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t))
                    || (lower.len() >= 4
                        && lower.chars().all(|ch| ch.is_ascii_hexdigit())
                        && c.share_id.to_hex().starts_with(&lower))
            })
            .collect();
        match matches.len() {
            1 => Ok(matches.into_iter().next().expect("one")),
            0 => Err(NodeError::NotFound(format!(
                "'{t}' is not a joined community (give its link, its 64-digit id, an id prefix or its name)"
            ))),
            n => Err(NodeError::Invalid(format!("'{t}' matches {n} joined communities; give more of the id"))),
        }
    }
}
