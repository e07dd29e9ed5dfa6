//! Creating, joining and leaving communities, and membership tokens.
//!
//! - Creating one generates a share key: the creator holds it, so it can issue tokens (and
//!   gets one itself).
//! - Joining needs the community id and public key (a link carries both); the key must hash
//!   to the id. The node then signs its member record and its share records, announces itself
//!   in the DHT (v1) and introduces itself to a few members (trove).
//! - Leaving signs tombstones (member record, share records), pushes them to members, withdraws
//!   the DHT entry and forgets the community's records.
//! - A token is issued by the community key to one node key; strict communities require it
//!   and check it against the identity the session authenticated.

use crate::error::{NodeError, Result};
use crate::events::Event;
use crate::node::{Inner, Node};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use trove_proto::wire::CommunityMembershipToken;
use trove_proto::wire::community_ext::check_token;
use trove_proto::{PubKey, ShareId, ShareLink, cbor};
use trove_store::db::{Community, unix_now};

/// Default validity of an issued token.
pub const DEFAULT_TOKEN_SECS: u64 = 365 * 86_400;

/// Options of [`Node::community_join`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct JoinOptions {
    /// A local name for the community (1–64 characters).
    pub name: Option<String>,
    /// Strict mode: members must hold tokens (see the module documentation).
    pub strict: bool,
    /// A membership token issued to this node (hex of its CBOR).
    pub token: Option<String>,
}

/// A membership token, for display.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenView {
    pub member: PubKey,
    pub issued_at: u64,
    pub expires_at: u64,
    /// Hex of the token's CBOR (what `community token` prints and `--token` takes).
    pub hex: String,
}

/// A joined community.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CommunityInfo {
    pub share_id: ShareId,
    pub share_pubkey: PubKey,
    pub name: Option<String>,
    pub joined_at: u64,
    pub strict: bool,
    /// This node holds the community key (it created the community or imported the key)
    /// and can issue tokens.
    pub owner: bool,
    /// The token issued to this node, if any.
    pub token: Option<TokenView>,
    /// The community's link (with this node's addresses as bootstrap hints).
    pub link: String,
}

fn token_view(bytes: &[u8]) -> Option<TokenView> {
    let t: CommunityMembershipToken = cbor::from_slice(bytes).ok()?;
    Some(TokenView {
        member: t.member_node_pubkey,
        issued_at: t.issued_at,
        expires_at: t.expires_at,
        hex: hex::encode(bytes),
    })
}

/// Parses a token given as hex.
fn parse_token(hex_text: &str) -> Result<Vec<u8>> {
    let bytes = hex::decode(hex_text.trim())
        .map_err(|_| NodeError::Invalid("a membership token is given as hex digits".into()))?;
    if bytes.len() > trove_proto::wire::community_ext::MAX_TOKEN_BYTES {
        return Err(NodeError::Invalid("this membership token is too large".into()));
    }
    Ok(bytes)
}

impl Inner {
    pub(crate) fn community_info(&self, c: &Community) -> CommunityInfo {
        CommunityInfo {
            share_id: c.share_id,
            share_pubkey: c.pubkey,
            name: c.name.clone(),
            joined_at: c.joined_at,
            strict: c.strict,
            owner: self.db.share_key(&c.share_id).is_ok(),
            token: c.membership_token.as_deref().and_then(token_view),
            link: ShareLink::new(c.pubkey, self.link_hints()).to_string(),
        }
    }

    /// Checks a token issued to this node for `c`.
    fn check_own_token(&self, c_id: &ShareId, c_key: &PubKey, bytes: &[u8]) -> Result<()> {
        check_token(bytes, c_key, c_id, &self.key.public(), unix_now()).map(|_| ()).map_err(|e| {
            NodeError::Invalid(format!(
                "this membership token cannot be used by this node ({}): {e}",
                self.key.public().short()
            ))
        })
    }

    /// Joins (or updates), signs this node's records, announces it in the DHT and pushes its
    /// records to a few members.
    async fn join(self: &Arc<Self>, id: ShareId, key: PubKey, opts: JoinOptions) -> Result<CommunityInfo> {
        if key.share_id() != id {
            return Err(NodeError::Invalid(format!(
                "community id {id} does not match public key {key}: the SHA-256 of that key is {}",
                key.share_id()
            )));
        }
        let token = opts.token.as_deref().map(parse_token).transpose()?;
        if let Some(t) = &token {
            self.check_own_token(&id, &key, t)?;
        }
        let existing = self.db.community(&id)?;
        let keep_token = existing.as_ref().and_then(|c| c.membership_token.clone());
        let c = self.db.join_community(&id, &key, opts.name.as_deref(), token.as_deref().or(keep_token.as_deref()))?;
        if opts.strict != c.strict {
            self.db.set_community_strict(&id, opts.strict)?;
        }
        let c = self.db.community(&id)?.ok_or_else(|| NodeError::NotFound(format!("community {id} vanished")))?;
        let me = self.clone();
        let c2 = c.clone();
        let (members, shares) =
            tokio::task::spawn_blocking(move || me.own_records(&c2)).await.map_err(crate::publish::join_err)??;
        if existing.is_none() {
            self.emit(Event::CommunityJoined { community: id.to_hex(), name: c.name.clone() });
        }
        self.announce_membership(&c).await;
        // Introduce this node to a few members it can find (they learn it at once instead of
        // at their next refresh).
        let targets = self.push_targets(&c, true).await;
        self.push_records(&c, members, shares, targets).await;
        Ok(self.community_info(&c))
    }
}

impl Node {
    /// Creates a community: a new share key held by this node, joined at once, with a token
    /// issued to this node. Returns it (its link is what others join with).
    pub async fn community_create(&self, name: Option<&str>, strict: bool) -> Result<CommunityInfo> {
        let key = self.inner.db.generate_share_key()?;
        let now = unix_now();
        let token = CommunityMembershipToken::issue(&key, self.inner.key.public(), now, now + DEFAULT_TOKEN_SECS);
        let opts = JoinOptions { name: name.map(String::from), strict, token: Some(hex::encode(cbor::to_vec(&token))) };
        self.inner.join(key.share_id(), key.public(), opts).await
    }

    /// Joins a community given as a link (`scp2p://s/…`) or a 64-digit id with `pubkey`.
    /// The key must hash to the id; a link's key and `pubkey` must agree.
    pub async fn community_join(
        &self,
        target: &str,
        pubkey: Option<PubKey>,
        opts: JoinOptions,
    ) -> Result<CommunityInfo> {
        let r = crate::share_ref::parse(target, None)?;
        let key = match (r.pubkey, pubkey) {
            (Some(a), Some(b)) if a != b => {
                return Err(NodeError::Invalid(format!(
                    "the public key given ({b}) differs from the key in the link ({a})"
                )));
            }
            (a, b) => a.or(b).ok_or_else(|| {
                NodeError::Invalid(format!(
                    "joining community {} needs its public key: give the community link or the key",
                    r.share_id
                ))
            })?,
        };
        let hinted = crate::node::resolve_bootstrap(&r.hints).await;
        for a in &hinted {
            self.inner.peers.hint(a, trove_store::db::PeerSource::Bootstrap, None, None);
        }
        // Contact the member the link names: DHT lookups (finding the other members, now and
        // at every refresh) start only from peers this node has reached, so without a
        // bootstrap peer in common a link alone would find nobody.
        let contacts = hinted.iter().take(8).map(|a| {
            tokio::time::timeout(std::time::Duration::from_secs(5), async { self.inner.session(a).await.is_ok() })
        });
        futures::future::join_all(contacts).await;
        self.inner.join(r.share_id, key, opts).await
    }

    /// Leaves a community: tombstones for this node's records go to its members, the DHT
    /// entry is withdrawn, and the community's records are forgotten. `false` when it was not
    /// joined.
    pub async fn community_leave(&self, target: &str) -> Result<bool> {
        let inner = &self.inner;
        let c = match inner.find_community(target) {
            Ok(c) => c,
            Err(NodeError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let me = inner.clone();
        let c2 = c.clone();
        let (member, shares) = tokio::task::spawn_blocking(move || -> Result<_> {
            let shares = me.sync_own_shares(&c2, true)?;
            let member = me.sign_own_member(&c2, true)?;
            Ok((member, shares))
        })
        .await
        .map_err(crate::publish::join_err)??;
        let targets = inner.push_targets(&c, true).await;
        inner.push_records(&c, vec![member], shares, targets).await;
        inner.withdraw_membership(&c).await;
        inner.db.leave_community(&c.share_id)?;
        inner.db.delete_community_records(&c.share_id)?;
        inner.community.v1.lock().expect("v1 members").remove(&c.share_id);
        inner.emit(Event::CommunityLeft { community: c.share_id.to_hex() });
        Ok(true)
    }

    /// Joined communities, oldest first.
    pub fn communities(&self) -> Result<Vec<CommunityInfo>> {
        Ok(self.inner.db.communities()?.iter().map(|c| self.inner.community_info(c)).collect())
    }

    /// One joined community.
    pub fn community(&self, target: &str) -> Result<CommunityInfo> {
        let c = self.inner.find_community(target)?;
        Ok(self.inner.community_info(&c))
    }

    /// Issues a membership token for `member` (a node public key), valid for `valid_secs`
    /// (default one year). Needs the community key: only its holder can issue tokens.
    pub fn community_issue_token(&self, target: &str, member: PubKey, valid_secs: Option<u64>) -> Result<TokenView> {
        let c = self.inner.find_community(target)?;
        let key = self.inner.db.share_key(&c.share_id).map_err(|_| {
            NodeError::Invalid(format!(
                "this node does not hold the key of community {}: only its creator can issue tokens",
                c.share_id.short()
            ))
        })?;
        let now = unix_now();
        let t =
            CommunityMembershipToken::issue(&key, member, now, now + valid_secs.unwrap_or(DEFAULT_TOKEN_SECS).max(1));
        let bytes = cbor::to_vec(&t);
        Ok(token_view(&bytes).expect("a token just encoded decodes"))
    }

    /// Installs a token issued to this node (hex of its CBOR): it must be signed by the
    /// community key, name this node, and be unexpired. This node's member record carries it
    /// from now on.
    pub async fn community_set_token(&self, target: &str, token_hex: &str) -> Result<CommunityInfo> {
        let c = self.inner.find_community(target)?;
        let bytes = parse_token(token_hex)?;
        self.inner.check_own_token(&c.share_id, &c.pubkey, &bytes)?;
        self.inner.db.set_membership_token(&c.share_id, Some(&bytes))?;
        let opts = JoinOptions { name: c.name.clone(), strict: c.strict, token: Some(hex::encode(&bytes)) };
        self.inner.join(c.share_id, c.pubkey, opts).await
    }

    /// Switches strict mode of a joined community.
    pub fn community_set_strict(&self, target: &str, strict: bool) -> Result<CommunityInfo> {
        let c = self.inner.find_community(target)?;
        self.inner.db.set_community_strict(&c.share_id, strict)?;
        let c = self.inner.find_community(&c.share_id.to_hex())?;
        Ok(self.inner.community_info(&c))
    }

    /// Refreshes a community now: members from the DHT and from member records, their
    /// record streams (incrementally) and v1 listings.
    pub async fn community_refresh(&self, target: &str) -> Result<super::RefreshReport> {
        let c = self.inner.find_community(target)?;
        Ok(self.inner.refresh_community(&c).await)
    }
}
