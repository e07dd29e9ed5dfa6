//! Share links (SCP2P-WIRE.md §14): `scp2p://s/<base64url(share_id ‖ share_pubkey)>` with an
//! optional `?bp=` list of bootstrap addresses.

use crate::error::ProtoError;
use crate::ids::{PubKey, ShareId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use std::fmt;
use std::str::FromStr;

/// The link prefix.
pub const LINK_PREFIX: &str = "scp2p://s/";

/// Characters left unescaped in the `bp` component (those of JavaScript's
/// `encodeURIComponent`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// A parsed share link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareLink {
    pub share_id: ShareId,
    pub share_pubkey: PubKey,
    /// Bootstrap addresses as written (`tcp://…`, `quic://…`, `ip:port`, optional `@key`).
    pub bootstrap: Vec<String>,
}

impl ShareLink {
    /// A link for a share key, with optional bootstrap hints.
    pub fn new(share_pubkey: PubKey, bootstrap: Vec<String>) -> Self {
        ShareLink { share_id: share_pubkey.share_id(), share_pubkey, bootstrap }
    }

    /// Parses and checks a link: prefix, 64 payload bytes, and that the share id is the
    /// hash of the public key.
    pub fn parse(s: &str) -> Result<ShareLink, ProtoError> {
        let input = s.trim();
        let bad = |r: &str| ProtoError::parse("share link", input, r);
        let rest = input.strip_prefix(LINK_PREFIX).ok_or_else(|| bad("a share link starts with scp2p://s/"))?;
        let (payload, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| bad("the part after scp2p://s/ is not base64url"))?;
        if bytes.len() != 64 {
            return Err(bad(&format!("it carries {} bytes instead of 64", bytes.len())));
        }
        let share_id = ShareId::from_slice(&bytes[..32]).expect("32 bytes");
        let share_pubkey = PubKey::from_slice(&bytes[32..]).expect("32 bytes");
        if share_pubkey.share_id() != share_id {
            return Err(bad("its share id does not match its public key (the link is damaged)"));
        }
        let mut bootstrap = Vec::new();
        for pair in query.unwrap_or("").split('&') {
            if let Some(v) = pair.strip_prefix("bp=") {
                let v = percent_decode_str(v).decode_utf8().map_err(|_| bad("the bp= list is not valid UTF-8"))?;
                bootstrap.extend(v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from));
            }
        }
        Ok(ShareLink { share_id, share_pubkey, bootstrap })
    }
}

impl fmt::Display for ShareLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut payload = [0u8; 64];
        payload[..32].copy_from_slice(&self.share_id.0);
        payload[32..].copy_from_slice(&self.share_pubkey.0);
        write!(f, "{LINK_PREFIX}{}", URL_SAFE_NO_PAD.encode(payload))?;
        let bp: Vec<&str> = self.bootstrap.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
        if !bp.is_empty() {
            write!(f, "?bp={}", utf8_percent_encode(&bp.join(","), COMPONENT))?;
        }
        Ok(())
    }
}

impl FromStr for ShareLink {
    type Err = ProtoError;
    fn from_str(s: &str) -> Result<Self, ProtoError> {
        ShareLink::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_links_clearly() {
        let e = ShareLink::parse("http://x").unwrap_err().to_string();
        assert!(e.contains("starts with scp2p://s/"), "{e}");
        let e = ShareLink::parse("scp2p://s/AAAA").unwrap_err().to_string();
        assert!(e.contains("3 bytes instead of 64"), "{e}");
        let zeros = URL_SAFE_NO_PAD.encode([0u8; 64]);
        let e = ShareLink::parse(&format!("scp2p://s/{zeros}")).unwrap_err().to_string();
        assert!(e.contains("does not match"), "{e}");
    }
}
