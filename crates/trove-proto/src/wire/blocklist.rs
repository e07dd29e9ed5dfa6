//! Blocklist rules (SCP2P-WIRE.md §15): the content of a manifest item named `blocklist`.

use super::payload::cbor_payload;
use crate::cbor::{self, EncResult};
use crate::ids::{ContentId, ShareId};
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// The item name that marks a blocklist.
pub const BLOCKLIST_ITEM_NAME: &str = "blocklist";
/// Most ids one blocklist may hold.
pub const MAX_BLOCKLIST_ENTRIES: usize = 1_000_000;

/// Shares and contents a blocklist hides from search.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BlocklistRules {
    pub blocked_share_ids: Vec<ShareId>,
    pub blocked_content_ids: Vec<ContentId>,
}

cbor_payload!(BlocklistRules, "blocklist rules");

impl<C> Encode<C> for BlocklistRules {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(2)?.str("blocked_share_ids")?.array(self.blocked_share_ids.len() as u64)?;
        for id in &self.blocked_share_ids {
            cbor::write_int_array(e, &id.0)?;
        }
        e.str("blocked_content_ids")?.array(self.blocked_content_ids.len() as u64)?;
        for id in &self.blocked_content_ids {
            cbor::write_int_array(e, &id.0)?;
        }
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for BlocklistRules {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "blocklist rules";
        let (mut shares, mut contents) = (None, None);
        cbor::tmap(d, W, &["blocked_share_ids", "blocked_content_ids"], |d, i| {
            if i == 0 {
                shares = Some(cbor::array(d, MAX_BLOCKLIST_ENTRIES, "blocked_share_ids", ShareId::decode_field)?);
            } else {
                contents = Some(cbor::array(d, MAX_BLOCKLIST_ENTRIES, "blocked_content_ids", ContentId::decode_field)?);
            }
            Ok(())
        })?;
        Ok(BlocklistRules {
            blocked_share_ids: shares.ok_or_else(|| cbor::missing(W, "blocked_share_ids"))?,
            blocked_content_ids: contents.ok_or_else(|| cbor::missing(W, "blocked_content_ids"))?,
        })
    }
}
